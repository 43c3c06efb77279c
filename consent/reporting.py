"""Consent reads for the back office's dashboard and CSV reports: aggregates over the contacts,
the states and the ledger, and the streamed rows of the reports. Bulk-first: each is a handful of
GROUP BYs or one server-side cursor, whatever the size of the tables.

Times come in as aware datetimes (`since` inclusive, `until` exclusive); the back office turns
its staff-time-zone date ranges into them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any, cast

from django.db import connection
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, FloatField, Func, Max, Q, QuerySet
from django.db.models.functions import TruncDate

from consent.models import Action, ConsentEvent, ConsentState, Contact, Status

# --- Coverage now ----------------------------------------------------------------------------


def contact_flag_counts() -> dict[str, int]:
    """{"total", "blocked", "erased", "undeliverable"}: how many contacts there are now (blocked
    and undeliverable leave out the erased), in one aggregate."""
    flags = Contact.objects.aggregate(
        n_total=Count("id"),
        n_blocked=Count("id", filter=Q(blocked=True, erased=False)),
        n_erased=Count("id", filter=Q(erased=True)),
        n_undeliverable=Count("id", filter=Q(undeliverable=True, erased=False)),
    )
    return {k.removeprefix("n_"): int(v) for k, v in flags.items()}


def consent_state_counts() -> dict[tuple[str, str], int]:
    """Contacts per (purpose, status) now, blocked and erased contacts left out: two GROUP BYs."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    # All states (an index-only scan of (purpose, status, contact)), minus those of the few
    # blocked or erased contacts: cheaper than joining every state row to its contact.
    everyone = ConsentState.objects.values("purpose", "status").annotate(n=Count("contact")).order_by()
    excluded = (
        ConsentState.objects.filter(Q(contact__blocked=True) | Q(contact__erased=True))
        .values("purpose", "status")
        .annotate(n=Count("contact"))
        .order_by()
    )
    for row in everyone:
        counts[(row["purpose"], row["status"])] += row["n"]
    for row in excluded:
        counts[(row["purpose"], row["status"])] -= row["n"]
    return counts


# --- The ledger over a range -----------------------------------------------------------------


def _events_in(since: dt.datetime, until: dt.datetime) -> QuerySet[ConsentEvent]:
    # consent_event_occurred_at index: a range scan, however long the ledger
    return ConsentEvent.objects.filter(occurred_at__gte=since, occurred_at__lt=until)


def consent_event_counts(
    *, since: dt.datetime, until: dt.datetime, tzinfo: dt.tzinfo
) -> list[tuple[dt.date, str, str, int]]:
    """(day in `tzinfo`, purpose, action, events) for the events that occurred in the range: one
    GROUP BY day, purpose, action."""
    rows = (
        _events_in(since, until)
        .annotate(day=TruncDate("occurred_at", tzinfo=tzinfo))
        .values("day", "purpose", "action")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [(row["day"], row["purpose"], row["action"], row["n"]) for row in rows]


@dataclass(frozen=True)
class DelayStats:
    """How long opt-outs took from the customer's request to in force, in seconds."""

    source: str  # "" for all sources together
    count: int
    p50: float | None
    p95: float | None
    worst: float | None


class _PercentileCont(Aggregate):
    """PostgreSQL's percentile_cont(p) WITHIN GROUP (ORDER BY expr)."""

    function = "percentile_cont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, percentile: float, **extra: Any) -> None:
        super().__init__(expression, percentile=float(percentile), **extra)


class _Epoch(Func):
    """The seconds of an interval, never negative (PostgreSQL)."""

    template = "GREATEST(EXTRACT(EPOCH FROM %(expressions)s), 0)"
    output_field = FloatField()


def _percentile(sorted_values: list[float], p: float) -> float | None:
    """Linear interpolation, as percentile_cont does (the non-PostgreSQL fallback)."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * p
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def opt_out_delays(
    *, since: dt.datetime, until: dt.datetime, excluded_sources: Collection[str]
) -> list[DelayStats]:
    """p50 / p95 / worst of occurred_at -> recorded_at of the opt-outs that occurred in the range,
    all sources together (first, source "") then per source, `excluded_sources` left out.
    PostgreSQL computes them (two aggregates); elsewhere the range's few opt-outs are sorted here."""
    base = _events_in(since, until).filter(action=Action.OPT_OUT).exclude(source__in=excluded_sources)
    if connection.vendor == "postgresql":
        delay = ExpressionWrapper(F("recorded_at") - F("occurred_at"), output_field=DurationField())
        seconds = _Epoch(delay)
        aggregates = {
            "count": Count("id"),
            "p50": _PercentileCont(seconds, 0.5),
            "p95": _PercentileCont(seconds, 0.95),
            "worst": Max(seconds),
        }
        overall = base.aggregate(**aggregates)
        per_source: Any = base.values("source").annotate(**aggregates).order_by("source")
        result = [DelayStats("", overall["count"], overall["p50"], overall["p95"], overall["worst"])]
        result += [DelayStats(r["source"], r["count"], r["p50"], r["p95"], r["worst"]) for r in per_source]
        return result
    per: dict[str, list[float]] = defaultdict(list)
    for source, occurred, recorded in base.values_list("source", "occurred_at", "recorded_at").iterator():
        per[source].append(max(0.0, (recorded - occurred).total_seconds()))
    everything = sorted(v for values in per.values() for v in values)
    result = [DelayStats("", len(everything), _percentile(everything, 0.5), _percentile(everything, 0.95),
                         everything[-1] if everything else None)]
    for source in sorted(per):
        values = sorted(per[source])
        result.append(DelayStats(source, len(values), _percentile(values, 0.5), _percentile(values, 0.95), values[-1]))
    return result


def opt_out_honour_seconds(*, recorded_since: dt.datetime, excluded_sources: Collection[str]) -> list[float]:
    """Seconds from occurred_at to recorded_at (never negative) of the opt-outs recorded since `recorded_since`, sorted."""
    rows = (
        ConsentEvent.objects.filter(action=Action.OPT_OUT, recorded_at__gte=recorded_since)
        .exclude(source__in=excluded_sources).values_list("occurred_at", "recorded_at").iterator()
    )
    return sorted(max((recorded - occurred).total_seconds(), 0.0) for occurred, recorded in rows)


# --- The CSV reports' rows -------------------------------------------------------------------


def ledger_export_rows(*, since: dt.datetime, until: dt.datetime, chunk_size: int) -> Iterator[tuple[Any, ...]]:
    """The events that occurred in the range, in sequence (chain) order, through a server-side
    cursor: (uid, sequence, hash, prev_hash, contact uid, contact phone digest, purpose, action,
    source, notice_version, notice_sha256, evidence_sha256, actor_type, actor_label, occurred_at,
    recorded_at)."""
    return (
        _events_in(since, until)
        .order_by("sequence")
        .values_list(
            "uid", "sequence", "hash", "prev_hash", "contact__uid", "contact__phone_digest", "purpose", "action",
            "source", "notice_version", "notice_sha256", "evidence_sha256", "actor_type", "actor_label",
            "occurred_at", "recorded_at",
        )
        .iterator(chunk_size=chunk_size)
    )


_DigestRows = Iterator[tuple[str, dt.datetime | None]]


def suppressed_digests(*, chunk_size: int) -> Iterator[tuple[str, str | None, str, dt.datetime | None]]:
    """(phone digest, purpose or None for every purpose, "erased" / "blocked" / "opted_out", since)
    for who must not be messaged: erased numbers, blocked contacts, then each purpose a contact
    opted out of, each through a server-side cursor. Contacts without a digest are left out."""
    with_digest = Contact.objects.filter(phone_digest__isnull=False)
    erased = with_digest.filter(erased=True).order_by("id").values_list("phone_digest", "erased_at")
    for digest, at in cast(_DigestRows, erased.iterator(chunk_size=chunk_size)):  # digests not null: filtered
        yield digest, None, "erased", at
    blocked = with_digest.filter(blocked=True, erased=False).order_by("id").values_list("phone_digest", "blocked_at")
    for digest, at in cast(_DigestRows, blocked.iterator(chunk_size=chunk_size)):
        yield digest, None, "blocked", at
    opted_out = (
        ConsentState.objects.filter(status=Status.OPTED_OUT, contact__erased=False, contact__phone_digest__isnull=False)
        .order_by("purpose", "contact_id")
        .values_list(F("contact__phone_digest"), "purpose", "since")
    )
    for digest, purpose, since in opted_out.iterator(chunk_size=chunk_size):
        yield digest, purpose, "opted_out", since
