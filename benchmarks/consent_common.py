"""Shared set-up of the consent benchmarks: a separate PostgreSQL database, migrated, and fast
bulk loading of contacts, ledger events (with their positions, the log's Merkle tree and signed
checkpoints, exactly as the sequencer builds them) and current-state rows.

Loading goes through COPY, not the services: the benchmarks measure reads, verification and
the API, and a million service calls would take the whole afternoon.

BENCH_DB names the database; BENCH_BROKER_URL the Redis database of any Celery worker a
benchmark starts (default db 2), so parallel runs by several people do not collide.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DB = os.environ.get("BENCH_DB", "pk_bench_consent")
PG = "postgres://postgres@127.0.0.1:5432"
BENCH_BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/2")
CHECKPOINT_DIR = Path(tempfile.gettempdir()) / f"pk-bench-checkpoints-{BENCH_DB}"

BENCH_ENV = {
    "DJANGO_SETTINGS_MODULE": "pandorakart_wa.settings",
    "DEBUG": "off",
    "HTTPS_ONLY": "off",
    "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdefghijklmnop",
    "FIELD_ENCRYPTION_KEYS": "YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktYmU=",
    "PII_HASH_KEY": "bench-pii-hash-key-0123456789abcdefghijklmnop",
    "DATABASE_URL": f"{PG}/{BENCH_DB}",
    "CELERY_BROKER_URL": BENCH_BROKER_URL,
    "LEDGER_SIGNING_KEY": "YmVuY2gtbGVkZ2VyLXNpZ25pbmcta2V5LTAxMjM0NTY=",
    "LEDGER_LOG_ORIGIN": "bench.pandorakart.example/consent-ledger",
    "LEDGER_CHECKPOINT_DIR": str(CHECKPOINT_DIR),
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
            "consent_ledgerverification, consent_ledgertile, consent_ledgerhead, consent_ledgercheckpoint "
            "RESTART IDENTITY CASCADE"
        )
    shutil.rmtree(CHECKPOINT_DIR, ignore_errors=True)


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

    from pandorakart_wa.core.fields import encrypt_str
    from pandorakart_wa.core.phones import phone_digest

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


class TreeLoader:
    """Builds the log's tree (tiles, head) and signed checkpoints while a loader generates the
    events in log order, as the sequencer would have; `finish` writes them (COPY, files)."""

    def __init__(self, *, checkpoint_every: int = 0) -> None:
        from consent.merkle import Frontier
        from consent.tiles import TileWriter

        self.frontier = Frontier()
        self.writer = TileWriter()
        self.tiles: dict[tuple[int, int], bytes] = {}
        self.every = checkpoint_every
        self.roots: list[tuple[int, bytes]] = []

    def add(self, data: bytes) -> None:
        from consent.merkle import leaf_hash

        for level, index, node in self.frontier.append(leaf_hash(data)):
            self.writer.add(level, index, node)
        if len(self.writer.changed) >= 64:
            self.tiles.update(self.writer.take())
        if self.every and self.frontier.size % self.every == 0:
            self.roots.append((self.frontier.size, self.frontier.root()))

    def finish(self) -> int:
        """Write the tree and sign its checkpoints (and one of the whole tree); their count."""
        from django.conf import settings
        from django.utils import timezone

        from consent.log import signing_key, write_checkpoint_file
        from consent.models import LedgerCheckpoint, LedgerHead
        from consent.note import Checkpoint, sign

        self.tiles.update(self.writer.take())
        _copy("consent_ledgertile", ("level", "index", "hashes"),
              ((lv, ix, "\\x" + h.hex()) for (lv, ix), h in sorted(self.tiles.items())))
        LedgerHead.objects.update_or_create(pk=1, defaults={"size": self.frontier.size,
                                                            "frontier": self.frontier.packed()})
        if self.frontier.size and (not self.roots or self.roots[-1][0] != self.frontier.size):
            self.roots.append((self.frontier.size, self.frontier.root()))
        now = timezone.now()
        rows = []
        for size, root in self.roots:
            note = sign(Checkpoint(settings.LEDGER_LOG_ORIGIN, size, root).body(), name=settings.LEDGER_LOG_ORIGIN,
                        key=signing_key())
            rows.append(LedgerCheckpoint(tree_size=size, root_hash=root, origin=settings.LEDGER_LOG_ORIGIN, note=note,
                                         signed_at=now))
            write_checkpoint_file(size, note)
        LedgerCheckpoint.objects.bulk_create(rows)
        return len(rows)


def load_ledger(contact_ids: list[int], events: int, *, purposes: tuple[str, ...] = ("marketing",),
                evidence_every: int = 10, states: bool = True, legacy: bool = False,
                checkpoint_every: int = 10_000) -> int:
    """`events` ledger events over the contacts, already sequenced into the log's tree with a
    signed checkpoint every `checkpoint_every` events (`legacy`: written by the hash-chain
    release instead, their chain preimage as their leaf, as migration 0007 turns them), plus
    one current-state row per contact x purpose (the latest event) and some evidence rows.
    Returns the number of checkpoints."""
    from consent.ledger import GENESIS_HASH, LEAF_COLUMNS, chain_preimage, evidence_digest, leaf_bytes_v2, sha256_hex
    from consent.models import Contact

    uids = dict(Contact.objects.values_list("id", "uid"))
    tree = TreeLoader(checkpoint_every=checkpoint_every)
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
                "contact__uid": uids[contact_id], "purpose": purpose, "action": action, "source": "checkout",
                "notice_version": "2026-11-01-en", "notice_sha256": "a" * 64, "evidence_sha256": evidence_digest(data),
                "actor_type": "system", "actor_id": "", "actor_label": "bench", "occurred_at": at, "recorded_at": at,
                "prev_hash": prev if legacy else "", "hash": "",
            }
            if legacy:
                preimage = chain_preimage(fields)
                fields["hash"] = prev = sha256_hex(preimage)
                tree.add(preimage)
            else:
                tree.add(leaf_bytes_v2(tuple(fields[name] for name in LEAF_COLUMNS)))
            latest[(contact_id, purpose)] = (seq, action, at)
            if data is not None:
                import json

                evidence.append((seq, json.dumps(data)))
            yield (seq, fields["uid"], seq, fields["batch"], contact_id, purpose, action, "checkout", None,
                   "2026-11-01-en", "a" * 64, fields["evidence_sha256"], "system", "", "bench", at, at,
                   fields["prev_hash"], fields["hash"])

    _copy("consent_consentevent", ev_columns, rows())
    _copy("consent_consentevidence", ("event_id", "data", "erased_at"), ((s, d, None) for s, d in evidence))
    checkpoints = tree.finish()
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
    return checkpoints


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
