"""Shared set-up of the sending benchmarks (and the reliability tests): an audience loaded in
bulk, a sendable template, processes (fake Meta, Celery workers, gunicorn) and their teardown.

Contacts, their consent events and current-state rows are written with COPY, not
through the consent services: the benchmarks measure sending, and 100,000 service calls would
take most of an hour. The events are written as the services write them, without a position:
the ledger's sequencer adds them to the signed tree when beat runs it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PG = "postgres://postgres@127.0.0.1:5432"
PY = str(ROOT / ".venv" / "bin" / "python")


def phone_for(n: int) -> str:
    """A distinct valid Indian mobile number for each n < 10**8."""
    return f"+9190{n:08d}"


BROKER = os.environ.get("BENCH_BROKER", "redis://127.0.0.1:6379/6")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/7")
APP_SECRET = "be0c4a99be0c4a99be0c4a99be0c4a99"  # noqa: S105 - a benchmark database's


def bench_env(db: str, fake_url: str, **overrides: object) -> dict[str, str]:
    """Production settings (pandorakart_wa.settings) on a benchmark database, the fake Meta and
    the benchmark Redis databases; `overrides` are further environment variables."""
    env = {
        "DJANGO_SETTINGS_MODULE": "pandorakart_wa.settings",
        "DEBUG": "off",
        "HTTPS_ONLY": "off",
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdefghijklmnop",
        "FIELD_ENCRYPTION_KEYS": "YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktYmU=",
        "PII_HASH_KEY": "bench-pii-hash-key-0123456789abcdefghijklmnop",
        "LEDGER_SIGNING_KEY": "YmVuY2gtbGVkZ2VyLXNpZ25pbmcta2V5LTAxMjM0NTY=",
        "LEDGER_LOG_ORIGIN": "bench.pandorakart.example/consent-ledger",
        "LEDGER_CHECKPOINT_DIR": str(Path(tempfile.gettempdir()) / f"pk-bench-checkpoints-{db}"),
        "DATABASE_URL": f"{PG}/{db}",
        "CONN_MAX_AGE": "600",
        "CELERY_BROKER_URL": BROKER,
        "REDIS_URL": REDIS,
        "CELERY_TASK_ALWAYS_EAGER": "off",
        "WHATSAPP_BACKEND": "cloud",
        "WHATSAPP_GRAPH_URL": fake_url,
        "WHATSAPP_ACCESS_TOKEN": "bench-token",
        "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
        "WHATSAPP_WABA_ID": "102290129340398",
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": "bench-verify-token",
        "LOG_LEVEL": "WARNING",
    }
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def create_db(db: str) -> None:
    drop_db(db)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", db], check=True)


def drop_db(db: str) -> None:
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", db], check=True,
                   stderr=subprocess.DEVNULL)


def setup_django(env: dict[str, str], db: str) -> None:
    """A fresh database `db`, migrated, and Django set up in this process on `env`."""
    os.environ.update(env)
    create_db(db)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def flush_redis() -> None:
    import redis

    for url in (BROKER, REDIS):
        redis.Redis.from_url(url).flushdb()


def close_and_drop(db: str) -> None:
    from django.db import connections

    connections.close_all()
    drop_db(db)


# --- Bulk audience ---------------------------------------------------------------------------


def _copy(table: str, columns: Sequence[str], rows: Iterator[Sequence[object]], batch: int = 20_000) -> int:
    from django.db import connection

    def text(value: object) -> str:
        if value is None:
            return "\\N"
        if isinstance(value, bool):
            return "t" if value else "f"
        out = value.isoformat() if isinstance(value, datetime) else str(value)
        return out.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    total = 0
    buffer: list[str] = []
    with connection.cursor() as cursor:
        raw = cursor.cursor

        def flush() -> None:
            with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                copy.write("".join(buffer))

        for row in rows:
            buffer.append("\t".join(text(v) for v in row) + "\n")
            if len(buffer) >= batch:
                flush()
                total += len(buffer)
                buffer = []
        if buffer:
            flush()
            total += len(buffer)
    return total


def load_audience(count: int, *, start: int = 0, purposes: Sequence[str] = ("marketing", "order_updates")) -> list[int]:
    """`count` contacts (numbers phone_for(start..start+count)) opted in to `purposes` under the
    seeded English notice; returns their ids in number order."""
    from django.db import connection, transaction
    from django.utils import timezone

    from consent.models import ConsentEvent, Contact
    from consent.seed import seed_notices
    from pandorakart_wa.core.fields import encrypt_str
    from pandorakart_wa.core.phones import phone_digest

    notice = next(n for n in seed_notices() if n.language == "en")
    now = timezone.now()
    with transaction.atomic():
        phones = [phone_for(n) for n in range(start, start + count)]
        _copy(
            "consent_contact",
            ("uid", "phone", "phone_digest", "blocked", "blocked_reason", "erased", "undeliverable",
             "last_inbound_wamid", "created_at", "updated_at"),
            ((uuid.uuid4(), encrypt_str(p), phone_digest(p), False, "", False, False, "", now, now) for p in phones),
        )
        digests = [phone_digest(p) for p in phones]
        ids_by_digest = dict(Contact.objects.filter(phone_digest__in=digests).values_list("phone_digest", "id"))
        ids = [ids_by_digest[d] for d in digests]
        # Written as the services write them: no position yet (the ledger's sequencer, when a
        # benchmark runs beat, gives them theirs and adds them to the signed tree).
        events: list[tuple[object, ...]] = []
        for contact_id in ids:
            batch = uuid.uuid4()
            for purpose in purposes:
                events.append((uuid.uuid4(), batch, contact_id, purpose, "opt_in", "checkout", notice.pk,
                               notice.version, notice.text_sha256, "", "system", "", "bench-load", now, now, "", ""))
        _copy(
            "consent_consentevent",
            ("uid", "batch", "contact_id", "purpose", "action", "source", "notice_id", "notice_version",
             "notice_sha256", "evidence_sha256", "actor_type", "actor_id", "actor_label", "occurred_at",
             "recorded_at", "prev_hash", "hash"),
            iter(events),
        )
        event_ids = dict(
            ConsentEvent.objects.filter(uid__in=[e[0] for e in events]).values_list("uid", "id")
        )
        _copy(
            "consent_consentstate",
            ("contact_id", "purpose", "status", "since", "source", "notice_version", "last_event_id", "updated_at"),
            ((e[2], e[3], "opted_in", now, "checkout", notice.version, event_ids[e[0]], now) for e in events),
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE consent_contact; ANALYZE consent_consentstate")
    return ids


def sendable_template(name: str = "festive_offer", category: str = "MARKETING") -> Any:
    """An approved, GREEN template (rows written directly, as the tests' factories do)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from consent.purposes import PURPOSE_FOR_CATEGORY, TemplateCategory
    from messaging.models import (
        MessageTemplate,
        MetaTemplateStatus,
        RevisionStatus,
        TemplateQuality,
        TemplateRevision,
    )

    existing = MessageTemplate.objects.filter(name=name, language="en").first()
    if existing is not None:
        return existing
    users = get_user_model()
    author, _ = users.objects.get_or_create(username="bench-author", defaults={"is_staff": True})
    reviewer, _ = users.objects.get_or_create(username="bench-reviewer", defaults={"is_staff": True})
    cat = TemplateCategory(category)
    template = MessageTemplate.objects.create(
        name=name, language="en", category=cat, purpose=PURPOSE_FOR_CATEGORY[cat], status=RevisionStatus.SUBMITTED,
        meta_template_id=str(900000 + MessageTemplate.objects.count()), meta_status=MetaTemplateStatus.APPROVED,
        quality=TemplateQuality.GREEN,
    )
    revision = TemplateRevision.objects.create(
        template=template, number=1, category=cat,
        body="Hi {{1}}, our Diwali sale has {{2}} off on home decor. Reply STOP to opt out.",
        body_examples=["Priya", "40%"], author=author, reviewed_by=reviewer, reviewed_at=timezone.now(),
        status=RevisionStatus.SUBMITTED, submitted_at=timezone.now(),
    )
    template.current_revision = template.approved_revision = revision
    template.save(update_fields=["current_revision", "approved_revision"])
    return template


def no_quiet_hours() -> None:
    import datetime as dt

    from messaging.models import SendingPolicy

    SendingPolicy.objects.update_or_create(
        pk=1, defaults={"quiet_hours_start": dt.time(0, 0), "quiet_hours_end": dt.time(0, 0), "stop_all": False}
    )


# --- Processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_fake_meta(latency_ms: float = 100, *, validate: bool = True, token: str = "test-access-token",  # noqa: S107 - the fake's
                    log: Any = None, nice: int = 0) -> tuple[subprocess.Popen[str], str]:
    """`python -m tests.fakemeta.server` as its own process; (process, base URL). `nice` < 0
    (root only) keeps the fake's receive times true when the benchmark loads the host: Meta's
    servers are not descheduled by our workers."""
    args = [PY, "-m", "tests.fakemeta.server", "--port", "0", "--latency-ms", str(latency_ms), "--token", token]
    if not validate:
        args.append("--no-validate")
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=log or subprocess.DEVNULL, text=True,
                               preexec_fn=(lambda: os.nice(nice)) if nice else None)
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise RuntimeError(f"the fake Meta server did not start: {line!r}")
    return process, line.rsplit(" ", 1)[1].strip()


class Worker:
    """A `celery -A pandorakart_wa worker` subprocess (its own process group)."""

    def __init__(self, env: dict[str, str], *, pool: str = "gevent", concurrency: int = 8, queues: str = "",
                 log_path: str | None = None, name: str = "w1", extra: Sequence[str] = ()) -> None:
        self.env, self.pool, self.concurrency, self.queues = env, pool, concurrency, queues
        self.log_path = log_path or f"/tmp/pk-send-worker-{name}-{os.getpid()}.log"
        self.name = name
        self.extra = list(extra)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        args = [PY, "-m", "celery", "-A", "pandorakart_wa", "worker", "-P", self.pool, "-c", str(self.concurrency),
                "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
                "-n", f"{self.name}-{uuid.uuid4().hex[:6]}@%h", *self.extra]
        if self.queues:
            args += ["-Q", self.queues]
        log = open(self.log_path, "ab")  # noqa: SIM115 - the worker writes to it until stopped
        self.process = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and every process it started (no clean shutdown, like a crash)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 20) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError), open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
        return ""


def vm_hwm_kb(pid: int) -> int:
    """Peak resident set (VmHWM) of a process, in kB; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(parts[1]), []).append(int(entry))
        except OSError:
            continue
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def wait_for(predicate: Any, timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def utc_now() -> datetime:
    return datetime.now(UTC)
