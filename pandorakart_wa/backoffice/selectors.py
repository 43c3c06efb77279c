"""The compliance dashboard's figures: read-only, aggregated in the database.

Every query is bounded: current-state counts are GROUP BYs over indexed columns, and everything
that happens over time (consent events, messages) is a GROUP BY day / status over the selected
date range, so the page costs a handful of queries whatever the size of the tables. Nothing
here loops over rows in Python except the small results (one row per day, status or template).
The queries themselves are the apps' selectors (consent.reporting, messaging.selectors, ...):
the back office reads no app's tables directly.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from consent.models import Action, LedgerCheckpoint, LedgerVerification, Source, Status
from consent.purposes import Purpose
from consent.reporting import consent_event_counts, consent_state_counts, contact_flag_counts, opt_out_delays
from consent.selectors import (
    ledger_checkpoint_latest,
    ledger_events_waiting,
    ledger_head_sequence,
    ledger_last_verification,
)
from messaging.models import HoldReason, MessageRate, MessageStatus, MessageTemplate, PricingCategory, TemplateQuality
from messaging.selectors import (
    message_counts,
    message_pricing_counts,
    rates_in_force,
    template_usable,
    templates_with_approved_revision,
)
from pandorakart_wa.whatsapp.versions import VersionStatus, version_status
from profile.models import ComplianceAlert
from profile.selectors import alerts_open

GRANTS = (Action.OPT_IN, Action.RESUBSCRIBE)
# Opt-outs whose honour time means something: the customer acted (keyword, Meta's stop button,
# the storefront) and we recorded it. Imports replay old history, so their delay is not ours.
HONOUR_TIME_EXCLUDED_SOURCES = (Source.IMPORT,)
SENT_STATUSES = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
LEDGER_VERIFICATION_STALE_AFTER = dt.timedelta(hours=36)  # the check runs daily: a missed run shows
ALERTS_SHOWN = 8


@dataclass(frozen=True)
class DateRange:
    """Whole days [start, end] in the staff time zone."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    @property
    def since(self) -> dt.datetime:
        return _midnight(self.start)

    @property
    def until(self) -> dt.datetime:
        """Exclusive: midnight after the last day."""
        return _midnight(self.end + dt.timedelta(days=1))

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def _midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_current_timezone())


def default_range(today: dt.date | None = None, days: int = 30) -> DateRange:
    today = today or timezone.localdate()
    return DateRange(today - dt.timedelta(days=days - 1), today)


# --- Consent -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    purpose: str
    label: str
    opted_in: int
    opted_out: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.opted_in / self.total if self.total else 0.0


def consent_coverage() -> tuple[int, list[Coverage], dict[str, int]]:
    """(contacts, coverage per purpose, {"blocked", "erased", "undeliverable"}) now.

    `opted_in` counts contacts that may be messaged for the purpose (not blocked or erased).
    """
    flags = contact_flag_counts()
    total = flags.pop("total")
    counts = consent_state_counts()
    coverage = [
        Coverage(
            purpose=str(purpose),
            label=str(purpose.label),
            opted_in=counts.get((purpose, Status.OPTED_IN), 0),
            opted_out=counts.get((purpose, Status.OPTED_OUT), 0),
            total=total,
        )
        for purpose in Purpose
    ]
    return total, coverage, flags


@dataclass
class ConsentActivity:
    days: list[dt.date]
    opt_ins: list[int]
    opt_outs: list[int]
    erasures: list[int]
    by_purpose: dict[str, dict[str, int]] = field(default_factory=dict)  # purpose -> {"in","out","erase"}

    @property
    def totals(self) -> dict[str, int]:
        return {"in": sum(self.opt_ins), "out": sum(self.opt_outs), "erase": sum(self.erasures)}


def consent_activity(date_range: DateRange) -> ConsentActivity:
    """Opt-ins (incl. resubscribes), opt-outs and erasures per day (by occurred_at, staff time
    zone) and per purpose: one GROUP BY day, purpose, action over the range."""
    rows = consent_event_counts(since=date_range.since, until=date_range.until,
                                tzinfo=timezone.get_current_timezone())
    days = date_range.days
    index = {day: i for i, day in enumerate(days)}
    activity = ConsentActivity(days=days, opt_ins=[0] * len(days), opt_outs=[0] * len(days),
                               erasures=[0] * len(days))
    activity.by_purpose = {p: {"in": 0, "out": 0, "erase": 0} for p in Purpose.values}
    for day, purpose, action, n in rows:
        i = index.get(day)
        if i is None:
            continue
        kind = "in" if action in GRANTS else "out" if action == Action.OPT_OUT else "erase"
        series = {"in": activity.opt_ins, "out": activity.opt_outs, "erase": activity.erasures}[kind]
        series[i] += n
        activity.by_purpose.setdefault(purpose, {"in": 0, "out": 0, "erase": 0})[kind] += n
    return activity


@dataclass(frozen=True)
class HonourTime:
    source: str  # "" for all sources together
    label: str
    count: int
    p50: float | None  # seconds
    p95: float | None
    worst: float | None

    @property
    def p50_text(self) -> str:
        return duration_text(self.p50)

    @property
    def p95_text(self) -> str:
        return duration_text(self.p95)

    @property
    def worst_text(self) -> str:
        return duration_text(self.worst)


def duration_text(seconds: float | None) -> str:
    """12 ms, 3.4 s, 5 min 2 s, 2 h 10 min, 3 d 4 h."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def opt_out_honour_times(date_range: DateRange) -> list[HonourTime]:
    """How long from the customer's opt-out (occurred_at: the keyword's or Meta's timestamp, the
    storefront's click) until it was in force (recorded_at: the ledger event and the state row
    are written together, and the send gate reads that row). p50 / p95 / worst per source, then
    all sources together (first)."""
    labels = dict(Source.choices)
    overall, *per_source = opt_out_delays(since=date_range.since, until=date_range.until,
                                          excluded_sources=HONOUR_TIME_EXCLUDED_SOURCES)
    result = [HonourTime("", "All sources", overall.count, overall.p50, overall.p95, overall.worst)]
    result += [HonourTime(d.source, str(labels.get(d.source, d.source)), d.count, d.p50, d.p95, d.worst)
               for d in per_source]
    return result


@dataclass(frozen=True)
class LedgerStatus:
    last: LedgerVerification | None
    head_sequence: int | None
    unverified_events: int | None  # events appended since the last intact run
    stale: bool
    checkpoint: LedgerCheckpoint | None = None  # the latest signed tree head
    waiting_events: int = 0  # written, not yet given a position by the sequencer

    @property
    def state(self) -> str:
        if self.last is None:
            return "never"
        return "ok" if self.last.ok else "broken"


def ledger_status(now: dt.datetime | None = None) -> LedgerStatus:
    now = now or timezone.now()
    last = ledger_last_verification()
    head = ledger_head_sequence()
    unverified = None
    if last is not None and last.ok:
        unverified = (head or 0) - (last.head_sequence or 0)
    stale = last is None or now - last.finished_at > LEDGER_VERIFICATION_STALE_AFTER
    checkpoint = ledger_checkpoint_latest()
    waiting = ledger_events_waiting()
    return LedgerStatus(last=last, head_sequence=head, unverified_events=unverified, stale=stale,
                        checkpoint=checkpoint, waiting_events=waiting)


# --- Messaging ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageFigures:
    by_status: list[tuple[str, str, int]]  # (status, label, count), every status
    suppressed_by_reason: list[tuple[str, int]]
    failed_by_error: list[tuple[str, int]]
    sent_by_template: dict[int, int]
    total: int


def message_figures(date_range: DateRange) -> MessageFigures:
    """Messages created in the range by status; suppressed ones by policy code; failed ones by
    Meta's error code; sent ones by template. One GROUP BY over the range (a few hundred rows
    at most: statuses x reasons x error codes x templates)."""
    rows = message_counts(since=date_range.since, until=date_range.until)
    by_status: dict[str, int] = defaultdict(int)
    suppressed: dict[str, int] = defaultdict(int)
    failed: dict[str, int] = defaultdict(int)
    sent: dict[int, int] = defaultdict(int)
    for status, reason, error_code, template_id, n in rows:
        by_status[status] += n
        if status == MessageStatus.SUPPRESSED:
            suppressed[reason or "unspecified"] += n
        elif status == MessageStatus.FAILED:
            failed[str(error_code) if error_code is not None else "no code"] += n
        if status in SENT_STATUSES and template_id is not None:
            sent[template_id] += n
    return MessageFigures(
        by_status=[(str(s), str(s.label).split(" (")[0], by_status.get(s, 0)) for s in MessageStatus],
        suppressed_by_reason=sorted(suppressed.items(), key=lambda item: (-item[1], item[0])),
        failed_by_error=sorted(failed.items(), key=lambda item: (-item[1], item[0]))[:8],
        sent_by_template=dict(sent),
        total=sum(by_status.values()),
    )


@dataclass(frozen=True)
class TemplateRow:
    template: MessageTemplate
    usable: bool
    refusal: str | None
    sent_in_range: int


def template_board(sent_by_template: dict[int, int]) -> tuple[list[TemplateRow], dict[str, int]]:
    """Every template with its quality, Meta status, hold and whether it may be sent now (the
    sending gate's own answer) and the messages sent with it in the range (from
    message_figures); and counts per quality (+ "HELD"). Templates are few: one query."""
    rows = []
    summary = dict.fromkeys(TemplateQuality.values, 0)
    summary["HELD"] = 0
    for template in templates_with_approved_revision():
        usable, refusal = template_usable(template)
        rows.append(TemplateRow(template, usable, refusal, sent_by_template.get(template.pk, 0)))
        summary[template.quality] = summary.get(template.quality, 0) + 1
        if template.hold_reason != HoldReason.NONE:
            summary["HELD"] += 1
    return rows, summary


# --- Profile and alerts ----------------------------------------------------------------------


def open_alerts() -> tuple[int, list[ComplianceAlert]]:
    alerts = alerts_open()
    return alerts.count(), list(alerts[:ALERTS_SHOWN])


# --- What messages cost (Meta's pricing on status webhooks, against the staff's rate card) -----

RATE_CARD_MARKET = "IN"  # PandoraKart messages Indian numbers: India's rate card prices them


@dataclass(frozen=True)
class CostRow:
    category: str
    label: str
    billable: int
    free: int
    rate: MessageRate | None

    @property
    def cost(self) -> Decimal | None:
        return None if self.rate is None else self.rate.rate * self.billable


@dataclass(frozen=True)
class MonthCost:
    month: dt.date  # the first day, staff time zone
    rows: list[CostRow]

    @property
    def billable(self) -> int:
        return sum(r.billable for r in self.rows)

    @property
    def currencies(self) -> list[str]:
        return sorted({r.rate.currency for r in self.rows if r.rate is not None and r.billable})

    @property
    def total(self) -> Decimal | None:
        """The estimated total, when every billable row has a rate in one currency."""
        if any(r.rate is None for r in self.rows if r.billable) or len(self.currencies) > 1:
            return None
        return sum((r.cost or Decimal(0) for r in self.rows), Decimal(0))

    @property
    def marketing_share(self) -> float | None:
        """Marketing's share of the billable messages (part of "non-spammy": API.md, issue 17)."""
        if not self.billable:
            return None
        marketing = sum(r.billable for r in self.rows if r.category.startswith("marketing"))
        return 100.0 * marketing / self.billable


def month_cost(today: dt.date | None = None) -> MonthCost:
    """Messages Meta priced this calendar month (staff time zone), billable and free, per Meta's
    pricing category, with the estimated cost at the rate card's rate in force today. One GROUP
    BY over the priced messages' partial index."""
    today = today or timezone.localdate()
    first = today.replace(day=1)
    until = (first + dt.timedelta(days=32)).replace(day=1)
    by_category = message_pricing_counts(since=_midnight(first), until=_midnight(until))
    rates = rates_in_force(market=RATE_CARD_MARKET, today=today)
    labels = dict(PricingCategory.choices)
    shown = [c for c in PricingCategory.values if c in by_category or c in rates]
    shown += sorted(c for c in by_category if c not in shown)  # a category Meta added since
    rows = [
        CostRow(category=c, label=str(labels.get(c, c or "(none given)")),
                billable=by_category.get(c, {}).get("billable", 0), free=by_category.get(c, {}).get("free", 0),
                rate=rates.get(c))
        for c in shown
    ]
    return MonthCost(month=first, rows=rows)


def api_version_status(today: dt.date | None = None) -> VersionStatus:
    """The configured WHATSAPP_API_VERSION in Meta's lifecycle (pandorakart_wa/whatsapp/versions.py)."""
    return version_status(settings.WHATSAPP_API_VERSION, today=today or timezone.localdate())
