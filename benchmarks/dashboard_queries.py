"""Benchmark: the compliance dashboard and the consent-ledger CSV export at scale.

Seeds its own PostgreSQL database (BENCH_DB, default pk_bench_dash) with 100,000 contacts,
500,000 ledger events spread over the last 365 days (the old hash chain migrated into the log's
tree, with signed checkpoints: every hash is computed, but rows are loaded with COPY, bypassing
the services — so the projection rows are derived here, not by consent.services), the
current-state rows, and 200,000 messages over
20 templates; then, in a fresh process (so its peak RSS is the measurement's own), times:

- the dashboard page (GET /admin/compliance/ through Django's test client, signed in with 2FA)
  for the default 30 days and for a full year, warm (median of 5) and each section on its own;
- the consent-ledger CSV export of the full year (all 500k rows), streamed: rows/s, bytes and
  the process's peak RSS before and after.

    .venv/bin/python benchmarks/dashboard_queries.py            # seed if empty, then measure
    .venv/bin/python benchmarks/dashboard_queries.py --fresh    # drop and re-seed first
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("BENCH_DB", "pk_bench_dash")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import consent_common as common

CONTACTS = int(os.environ.get("BENCH_CONTACTS", 100_000))
EVENTS = int(os.environ.get("BENCH_EVENTS", 500_000))
MESSAGES = int(os.environ.get("BENCH_MESSAGES", 200_000))
TEMPLATES = 20
DAYS = 365
PURPOSES = ("order_updates", "marketing", "account_security", "support")
SEED = 20261128


def _seed() -> None:
    from django.db import connection

    from consent.ledger import GENESIS_HASH, chain_preimage, evidence_digest, sha256_hex

    rng = random.Random(SEED)
    common.truncate_consent()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE messaging_messageevent, messaging_message RESTART IDENTITY CASCADE")
    t0 = time.perf_counter()
    contact_ids = common.load_contacts(CONTACTS)
    print(f"  {len(contact_ids):,} contacts in {time.perf_counter() - t0:.1f} s", flush=True)

    # Ledger: time-ordered over the year; everyone first opts in (order updates + marketing),
    # then opt-outs (keyword, storefront, Meta), resubscribes and more opt-ins, as in life.
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / EVENTS
    latest: dict[tuple[int, str], tuple[int, str, datetime]] = {}
    evidence: list[tuple[int, str]] = []
    columns = ("id", "uid", "sequence", "batch", "contact_id", "purpose", "action", "source", "notice_id",
               "notice_version", "notice_sha256", "evidence_sha256", "actor_type", "actor_id", "actor_label",
               "occurred_at", "recorded_at", "prev_hash", "hash")

    tree = common.TreeLoader(checkpoint_every=50_000)  # the old chain, migrated into the log

    def events() -> Iterator[tuple[object, ...]]:
        prev = GENESIS_HASH
        for seq in range(1, EVENTS + 1):
            recorded = start + step * seq
            if seq <= 2 * CONTACTS:
                contact_id = contact_ids[(seq - 1) // 2]
                purpose = PURPOSES[(seq - 1) % 2]
                action, source, delay = "opt_in", "checkout", 0.0
            else:
                contact_id = contact_ids[rng.randrange(len(contact_ids))]
                purpose = PURPOSES[rng.choice((0, 1, 1, 1, 2, 3))]
                roll = rng.random()
                if roll < 0.55:
                    action = "opt_out"
                    source, delay = rng.choice((("whatsapp", rng.uniform(0.2, 8.0)),
                                                ("account_settings", rng.uniform(0.0, 0.3)),
                                                ("whatsapp", rng.expovariate(1 / 3)),
                                                ("consent_manager", rng.uniform(0.0, 120.0))))
                elif roll < 0.65:
                    action, source, delay = "resubscribe", "whatsapp", rng.uniform(0.2, 5.0)
                else:
                    action, source, delay = "opt_in", rng.choice(("checkout", "account_settings")), 0.0
            occurred = recorded - timedelta(seconds=delay)
            data = {"ip": f"203.0.113.{seq % 250}", "user_agent": "bench"} if seq % 10 == 0 else None
            fields = {
                "sequence": seq, "uid": uuid.uuid4(), "batch": uuid.uuid4(), "contact_id": contact_id,
                "purpose": purpose, "action": action, "source": source,
                "notice_version": "2026-11-01-en" if action == "opt_in" else "",
                "notice_sha256": "a" * 64 if action == "opt_in" else "", "evidence_sha256": evidence_digest(data),
                "actor_type": "system", "actor_id": "", "actor_label": "bench", "occurred_at": occurred,
                "recorded_at": recorded, "prev_hash": prev,
            }
            preimage = chain_preimage(fields)
            tree.add(preimage)
            digest = sha256_hex(preimage)
            prev = digest
            latest[(contact_id, purpose)] = (seq, action, occurred)
            if data is not None:
                evidence.append((seq, json.dumps(data)))
            yield (seq, fields["uid"], seq, fields["batch"], contact_id, purpose, action, source, None,
                   fields["notice_version"], fields["notice_sha256"], fields["evidence_sha256"], "system", "",
                   "bench", occurred, recorded, fields["prev_hash"], digest)

    t0 = time.perf_counter()
    common._copy("consent_consentevent", columns, events())
    common._copy("consent_consentevidence", ("event_id", "data", "erased_at"), ((s, d, None) for s, d in evidence))
    tree.finish()
    common._copy(
        "consent_consentstate",
        ("contact_id", "purpose", "status", "since", "source", "notice_version", "last_event_id", "updated_at"),
        ((cid, purpose, "opted_out" if action == "opt_out" else "opted_in", at, "checkout", "", seq, now)
         for (cid, purpose), (seq, action, at) in latest.items()),
    )
    print(f"  {EVENTS:,} ledger events (+ {len(latest):,} state rows) in {time.perf_counter() - t0:.1f} s",
          flush=True)

    templates = _templates()
    statuses = (["delivered"] * 40 + ["read"] * 30 + ["sent"] * 8 + ["failed"] * 6 + ["suppressed"] * 12
                + ["cancelled"] * 2 + ["queued"] * 2)
    reasons = ("opted_out", "consent_missing", "frequency_cap", "template_paused", "contact_blocked")
    message_columns = ("id", "contact_id", "purpose", "template_id", "language", "variables", "text",
                       "reply_to_wamid", "kind", "status", "reason", "error_code", "error_title", "attempts",
                       "sent_at", "idempotency_key", "request_sha256", "created_by", "created_at", "updated_at")

    def messages() -> Iterator[tuple[object, ...]]:
        for i in range(MESSAGES):
            template_id, purpose = templates[rng.randrange(len(templates))]
            created = start + timedelta(days=DAYS) * (i / MESSAGES)
            status = rng.choice(statuses)
            went = status in ("sent", "delivered", "read", "failed")
            yield (uuid.uuid4(), contact_ids[rng.randrange(len(contact_ids))], purpose, template_id, "en", "[]", "",
                   "", "standard", status, rng.choice(reasons) if status == "suppressed" else "",
                   rng.choice((131049, 131026, 131050, 130472)) if status == "failed" else None, "", 1,
                   created + timedelta(seconds=2) if went else None, "", "", "bench", created, created)

    t0 = time.perf_counter()
    common._copy("messaging_message", message_columns, messages())
    print(f"  {MESSAGES:,} messages in {time.perf_counter() - t0:.1f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('consent_consentevent', 'id'), %s)", [EVENTS])
        cursor.execute("VACUUM ANALYZE consent_contact")
        cursor.execute("VACUUM ANALYZE consent_consentstate")
        cursor.execute("VACUUM ANALYZE consent_consentevent")
        cursor.execute("VACUUM ANALYZE messaging_message")
    from consent.services.verification import consent_ledger_verify

    t0 = time.perf_counter()
    run = consent_ledger_verify(triggered_by="benchmark")
    print(f"  ledger verification: ok={run.ok}, {run.events_checked:,} events in {time.perf_counter() - t0:.1f} s",
          flush=True)


def _templates() -> list[tuple[int, str]]:
    """TEMPLATES message templates (rows written directly), a few with poor quality or held."""
    from django.contrib.auth import get_user_model

    from messaging.models import (
        HoldReason,
        MessageTemplate,
        MetaTemplateStatus,
        RevisionStatus,
        TemplateQuality,
        TemplateRevision,
    )

    MessageTemplate.objects.update(current_revision=None, approved_revision=None)
    TemplateRevision.objects.all().delete()
    MessageTemplate.objects.all().delete()
    User = get_user_model()
    author, _ = User.objects.get_or_create(username="bench-author")
    reviewer, _ = User.objects.get_or_create(username="bench-reviewer")
    result = []
    qualities = [TemplateQuality.GREEN] * 14 + [TemplateQuality.YELLOW] * 3 + [TemplateQuality.RED] * 2 + [
        TemplateQuality.UNKNOWN]
    for i in range(TEMPLATES):
        category = "MARKETING" if i % 2 else "UTILITY"
        purpose = "marketing" if i % 2 else "order_updates"
        template = MessageTemplate.objects.create(
            name=f"bench_template_{i:02d}", language="en", category=category, purpose=purpose,
            meta_status=MetaTemplateStatus.APPROVED, quality=qualities[i],
            hold_reason=HoldReason.QUALITY_RED if qualities[i] == TemplateQuality.RED else HoldReason.NONE,
        )
        revision = TemplateRevision.objects.create(template=template, number=1, category=category,
                                                   body="Hello {{1}}", body_examples=["A"], author=author,
                                                   status=RevisionStatus.SUBMITTED, reviewed_by=reviewer)
        template.current_revision = template.approved_revision = revision
        template.status = RevisionStatus.SUBMITTED
        template.save()
        result.append((template.pk, purpose))
    return result


def _timed(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, float]:
    """(first, median of the next `repeat`) wall times in ms."""
    t0 = time.perf_counter()
    fn()
    first = (time.perf_counter() - t0) * 1000
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return first, statistics.median(times)


def measure() -> None:
    common.setup()
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from consent.models import ConsentEvent, Contact
    from messaging.models import Message
    from pandorakart_wa.backoffice import selectors
    from pandorakart_wa.core.roles import COMPLIANCE_OFFICER
    from tests.backoffice.helpers import make_staff, otp_force_login

    print(f"Data: {Contact.objects.count():,} contacts, {ConsentEvent.objects.count():,} ledger events, "
          f"{Message.objects.count():,} messages")
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username="bench-officer").delete()
    officer = make_staff("bench-officer", COMPLIANCE_OFFICER)
    client = otp_force_login(Client(HTTP_HOST="localhost"), officer)
    today = timezone.localdate()
    year = {"date_from": (today - timedelta(days=DAYS - 1)).isoformat(), "date_to": today.isoformat()}

    print("\nDashboard page (GET /admin/compliance/, full render):")
    for label, params in (("default 30 days", {}), ("365 days", year)):
        response = client.get("/admin/compliance/", params)
        assert response.status_code == 200, response.status_code
        queries: list[str] = []

        def count(execute: Any, sql: str, params: Any, many: bool, context: Any, seen: list[str] = queries) -> Any:
            seen.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            client.get("/admin/compliance/", params)
        first, median = _timed(lambda p=params: client.get("/admin/compliance/", p))
        print(f"  {label:16s} median {median:7.1f} ms (first {first:7.1f} ms), {len(queries)} queries")

    print("\nSections on their own (365 days, median of 5):")
    full = selectors.DateRange(today - timedelta(days=DAYS - 1), today)
    for name, fn in (
        ("consent coverage", selectors.consent_coverage),
        ("opt-ins/outs per day", lambda: selectors.consent_activity(full)),
        ("opt-out honour time", lambda: selectors.opt_out_honour_times(full)),
        ("messages by status", lambda: selectors.message_figures(full)),
        ("template board", lambda: selectors.template_board({})),
        ("ledger status", selectors.ledger_status),
    ):
        _, median = _timed(fn)
        print(f"  {name:22s} {median:7.1f} ms")

    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS OFF) SELECT (occurred_at AT TIME ZONE 'Asia/Kolkata')::date, purpose, action, "
            "count(*) FROM consent_consentevent WHERE occurred_at >= now() - interval '30 days' GROUP BY 1, 2, 3"
        )
        plan = [row[0] for row in cursor.fetchall()]
    print("\nPlan of the 30-day activity query:\n    " + "\n    ".join(plan[:8]))

    # The exports run in their own process: its peak RSS is then theirs alone.
    subprocess.run([sys.executable, __file__, "--export"], check=True, env=common.bench_env())


def export() -> None:
    common.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from pandorakart_wa.core.roles import AUDITOR
    from tests.backoffice.helpers import make_staff, otp_force_login

    get_user_model().objects.filter(username="bench-auditor").delete()
    client = otp_force_login(Client(HTTP_HOST="localhost"), make_staff("bench-auditor", AUDITOR))
    today = timezone.localdate()
    year = {"date_from": (today - timedelta(days=DAYS - 1)).isoformat(), "date_to": today.isoformat()}
    print("\nConsent-ledger CSV export (365 days, streamed):")
    rss_before = common.peak_rss_mb()
    t0 = time.perf_counter()
    response = client.get("/admin/compliance/reports/consent-ledger.csv", year)
    size = rows = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        rows += chunk.count(b"\r\n")
    elapsed = time.perf_counter() - t0
    rows -= 1  # the header
    print(f"  {rows:,} rows, {size / 1e6:.1f} MB in {elapsed:.1f} s: {rows / elapsed:,.0f} rows/s")
    print(f"  peak RSS {rss_before:.0f} MB before the export (Django set up), {common.peak_rss_mb():.0f} MB after")

    t0 = time.perf_counter()
    response = client.get("/admin/compliance/reports/suppression-list.csv")
    suppression = sum(chunk.count(b"\r\n") for chunk in response.streaming_content) - 1
    elapsed = time.perf_counter() - t0
    print(f"\nSuppression list: {suppression:,} rows in {elapsed:.1f} s; peak RSS {common.peak_rss_mb():.0f} MB")


def main() -> None:
    fresh = "--fresh" in sys.argv
    if "--measure" in sys.argv:
        measure()
        return
    if "--export" in sys.argv:
        export()
        return
    common.setup(fresh=fresh)
    from consent.models import ConsentEvent

    if fresh or ConsentEvent.objects.count() != EVENTS:
        print(f"Seeding {os.environ['BENCH_DB']}:", flush=True)
        _seed()
    # Measure in a fresh process: its peak RSS is then the export's, not the seeding's.
    subprocess.run([sys.executable, __file__, "--measure"], check=True, env=common.bench_env())


if __name__ == "__main__":
    main()
