"""Shared set-up of the consent benchmarks: a separate PostgreSQL database, migrated, and fast
bulk loading of contacts, ledger events (a valid hash chain) and current-state rows.

Loading goes through COPY, not the services: the benchmarks measure reads, verification and
the API, and a million service calls would take the whole afternoon.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DB = os.environ.get("BENCH_DB", "pk_bench_consent")
PG = "postgres://postgres@127.0.0.1:5432"

BENCH_ENV = {
    "DJANGO_SETTINGS_MODULE": "pandorakart_wa.settings",
    "DEBUG": "off",
    "HTTPS_ONLY": "off",
    "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdefghijklmnop",
    "FIELD_ENCRYPTION_KEYS": "YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktYmU=",
    "PII_HASH_KEY": "bench-pii-hash-key-0123456789abcdefghijklmnop",
    "DATABASE_URL": f"{PG}/{BENCH_DB}",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/2",
    "WHATSAPP_BACKEND": "locmem",
    "API_THROTTLE_RATE": "100000000/min",
    "LOG_LEVEL": "WARNING",
    "CONN_MAX_AGE": "600",
}


def bench_env() -> dict[str, str]:
    env = {**os.environ, **BENCH_ENV}
    env.pop("REDIS_URL", None)
    return env


def setup(*, fresh: bool = False) -> None:
    """Create (or recreate) the benchmark database, migrate it, and set Django up in-process."""
    os.environ.update(BENCH_ENV)
    os.environ.pop("REDIS_URL", None)
    if fresh:
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", BENCH_DB],
                       check=True)
    exists = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc",
         f"SELECT 1 FROM pg_database WHERE datname='{BENCH_DB}'"],  # noqa: S608 - our own constant
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", BENCH_DB], check=True)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def truncate_consent() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE consent_consentevidence, consent_consentstate, consent_consentevent, consent_contact, "
            "consent_ledgerverification RESTART IDENTITY CASCADE"
        )


def phone_for(n: int) -> str:
    """A distinct valid Indian mobile number for each n < 10**9."""
    return f"+919{n:09d}"


def _copy(table: str, columns: tuple[str, ...], rows: Iterator[tuple[object, ...]], batch: int = 50_000) -> int:
    """COPY rows into `table` (tab-separated text format), in batches."""
    from django.db import connection

    def escape(value: object) -> str:
        if value is None:
            return "\\N"
        text = value.isoformat() if isinstance(value, datetime) else str(value)
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    total = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3 cursor: COPY support
        buffer = io.StringIO()
        count = 0

        def flush() -> None:
            with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                copy.write(buffer.getvalue())

        for row in rows:
            buffer.write("\t".join(escape(v) for v in row) + "\n")
            count += 1
            if count == batch:
                flush()
                total += count
                buffer, count = io.StringIO(), 0
        if count:
            flush()
            total += count
    return total


def load_contacts(n: int) -> list[int]:
    """n contacts with encrypted numbers and digests; returns their ids (1..n after truncate)."""
    from django.utils import timezone

    from pandorakart_wa.fields import encrypt_str
    from pandorakart_wa.phones import phone_digest

    now = timezone.now()
    columns = ("uid", "phone", "phone_digest", "blocked", "blocked_reason", "erased", "undeliverable",
               "last_inbound_wamid", "created_at", "updated_at")

    def rows() -> Iterator[tuple[object, ...]]:
        for i in range(n):
            phone = phone_for(i)
            yield (uuid.uuid4(), encrypt_str(phone), phone_digest(phone), i % 20 == 0, "", False, False, "", now,
                   now)

    _copy("consent_contact", columns, rows())
    from consent.models import Contact

    return list(Contact.objects.order_by("id").values_list("id", flat=True))


def load_ledger(contact_ids: list[int], events: int, *, purposes: tuple[str, ...] = ("marketing",),
                evidence_every: int = 10, states: bool = True) -> None:
    """`events` ledger events over the contacts, hash-chained exactly as the services do, plus
    one current-state row per contact x purpose (the latest event) and some evidence rows."""
    from consent.ledger import GENESIS_HASH, event_hash, evidence_digest

    start = datetime(2026, 1, 1, tzinfo=UTC)
    actions = ("opt_in", "opt_in", "opt_in", "opt_out")  # 3 in 4 contacts end opted in
    latest: dict[tuple[int, str], tuple[int, str, datetime]] = {}
    evidence: list[tuple[int, str]] = []
    ev_columns = ("id", "uid", "sequence", "batch", "contact_id", "purpose", "action", "source", "notice_id",
                  "notice_version", "notice_sha256", "evidence_sha256", "actor_type", "actor_id", "actor_label",
                  "occurred_at", "recorded_at", "prev_hash", "hash")

    def rows() -> Iterator[tuple[object, ...]]:
        prev = GENESIS_HASH
        for seq in range(1, events + 1):
            contact_id = contact_ids[(seq - 1) % len(contact_ids)]
            purpose = purposes[((seq - 1) // len(contact_ids)) % len(purposes)]
            action = actions[contact_id % len(actions)] if seq > len(contact_ids) * len(purposes) else "opt_in"
            at = start + timedelta(microseconds=seq * 1000)
            data = {"ip": f"203.0.113.{seq % 250}", "user_agent": "bench"} if seq % evidence_every == 0 else None
            fields = {
                "sequence": seq, "uid": uuid.uuid4(), "batch": uuid.uuid4(), "contact_id": contact_id,
                "purpose": purpose, "action": action, "source": "checkout", "notice_version": "2026-11-01-en",
                "notice_sha256": "a" * 64, "evidence_sha256": evidence_digest(data), "actor_type": "system",
                "actor_id": "", "actor_label": "bench", "occurred_at": at, "recorded_at": at, "prev_hash": prev,
            }
            digest = event_hash(fields)
            prev = digest
            latest[(contact_id, purpose)] = (seq, action, at)
            if data is not None:
                import json

                evidence.append((seq, json.dumps(data)))
            yield (seq, fields["uid"], seq, fields["batch"], contact_id, purpose, action, "checkout", None,
                   "2026-11-01-en", "a" * 64, fields["evidence_sha256"], "system", "", "bench", at, at,
                   fields["prev_hash"], digest)

    _copy("consent_consentevent", ev_columns, rows())
    _copy("consent_consentevidence", ("event_id", "data", "erased_at"), ((s, d, None) for s, d in evidence))
    if states:
        from django.utils import timezone

        now = timezone.now()
        _copy(
            "consent_consentstate",
            ("contact_id", "purpose", "status", "since", "source", "notice_version", "last_event_id", "updated_at"),
            (
                (cid, purpose, "opted_in" if action == "opt_in" else "opted_out", at, "checkout", "2026-11-01-en",
                 seq, now)
                for (cid, purpose), (seq, action, at) in latest.items()
            ),
        )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('consent_consentevent', 'id'), %s)", [max(events, 1)])
        cursor.execute("ANALYZE consent_contact; ANALYZE consent_consentstate; ANALYZE consent_consentevent")


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
