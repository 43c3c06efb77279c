"""The complaints app's part of the dashboard, the reports and the evidence pack.

Figures are GROUP BYs over the complaints table; "overdue" is complaints' own queue
(complaints.selectors.queue_overdue), so the dashboard and the admin queue always agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.safestring import SafeString

from complaints.models import OPEN_STATUSES, Category, Complaint, ComplaintAction, Status
from complaints.selectors import queue_overdue
from consent.models import Contact
from pandorakart_wa.backoffice import charts
from pandorakart_wa.backoffice.reports import csv_chunks
from pandorakart_wa.backoffice.selectors import DateRange
from pandorakart_wa.core.phones import mask_phone

AVAILABLE = True
CURSOR_CHUNK = 1000
CATEGORY_COLOUR = "#7b4fa3"

REGISTER_COLUMNS = (
    "reference", "received_at", "channel", "category", "status", "outcome", "phone", "escalated_to_dpo",
    "acknowledgement", "first_response_due_at", "first_responded_at", "first_response_breached",
    "resolution_due_at", "resolved_at", "resolution_breached", "outer_limit_at", "outer_limit_breached", "closed_at",
)


def _short(label: str) -> str:
    return label.split(" (")[0]


def complaints_figures(date_range: DateRange, now: dt.datetime | None = None) -> dict[str, Any]:
    """Open complaints now (by status, overdue per clock), and those received / resolved in the
    range (by category). Five aggregate queries."""
    now = now or timezone.now()
    open_rows = Complaint.objects.filter(status__in=OPEN_STATUSES)
    labels = dict(Status.choices)
    by_status = [
        (_short(str(labels.get(r["status"], r["status"]))), r["n"])
        for r in open_rows.values("status").annotate(n=Count("id")).order_by("-n", "status")
    ]
    clocks = open_rows.aggregate(
        first_response=Count("id", filter=Q(first_responded_at__isnull=True, first_response_due_at__lte=now)),
        resolution=Count("id", filter=~Q(status=Status.AWAITING_CUSTOMER) & Q(resolution_due_at__lte=now)),
        outer=Count("id", filter=Q(outer_limit_at__lte=now)),
    )
    in_range = Complaint.objects.filter(created_at__gte=date_range.since, created_at__lt=date_range.until)
    counts = {r["category"]: r["n"] for r in in_range.values("category").annotate(n=Count("id")).order_by()}
    categories = [(_short(str(c.label)), counts.get(c, 0)) for c in Category]
    resolved = Complaint.objects.filter(resolved_at__gte=date_range.since, resolved_at__lt=date_range.until).count()
    return {
        "open": sum(n for _, n in by_status),
        "by_status": by_status,
        "overdue": queue_overdue(Complaint.objects.all(), now=now).count(),
        "first_response_overdue": clocks["first_response"],
        "resolution_overdue": clocks["resolution"],
        "outer_limit_breached": clocks["outer"],
        "received": sum(counts.values()),
        "resolved": resolved,
        "by_category": categories,
        "category_chart": category_chart(categories),
    }


def category_chart(categories: list[tuple[str, int]]) -> SafeString:
    return charts.bar_chart(title="Complaints received in the range, by category", rows=categories,
                            colour=CATEGORY_COLOUR)


def _breaches(complaint: Complaint) -> list[str]:
    return [
        label
        for label, at in (
            ("first response late", complaint.first_response_breached_at),
            ("resolution late", complaint.resolution_breached_at),
            ("statutory limit passed", complaint.outer_limit_breached_at),
        )
        if at is not None
    ]


def complaints_for_contact(contact: Contact) -> list[dict[str, Any]]:
    """The customer's complaints (by contact, or by the number's digest for ones taken before
    the contact existed) with outcome, SLA breaches and timeline. Internal staff notes are
    listed by kind only: the pack can be handed to the customer or a regulator."""
    match = Q(contact=contact)
    if contact.phone_digest:
        match |= Q(phone_digest=contact.phone_digest)
    complaints = list(Complaint.objects.filter(match).order_by("created_at", "id"))
    actions: dict[int, list[ComplaintAction]] = {}
    for action in ComplaintAction.objects.filter(complaint__in=complaints).order_by("at", "id"):
        actions.setdefault(action.complaint_id, []).append(action)
    return [
        {
            "reference": c.reference,
            "created_at": c.created_at,
            "channel": c.channel,
            "category": c.category,
            "status": c.status,
            "outcome": c.outcome,
            "resolution": c.resolution,
            "resolved_at": c.resolved_at,
            "closed_at": c.closed_at,
            "escalated_to_dpo": c.escalated_to_dpo,
            "first_response_due_at": c.first_response_due_at,
            "first_responded_at": c.first_responded_at,
            "resolution_due_at": c.resolution_due_at,
            "breaches": _breaches(c),
            "message": str(c.message_id) if c.message_id else None,
            "template": c.template_id,
            "timeline": [
                {
                    "at": a.at,
                    "kind": a.kind,
                    "from_status": a.from_status,
                    "to_status": a.to_status,
                    "summary": "" if a.internal else a.note[:300],
                }
                for a in actions.get(c.pk, [])
            ],
        }
        for c in complaints
    ]


def register_label() -> type[Complaint]:
    return Complaint


def register_rows(date_range: DateRange) -> Iterator[tuple[Any, ...]]:
    """The complaints received in the range, oldest first: no personal data but a masked number
    (the description and contact details stay in the admin)."""
    rows = (
        Complaint.objects.filter(created_at__gte=date_range.since, created_at__lt=date_range.until)
        .select_related("contact")
        .order_by("created_at", "id")
        .iterator(chunk_size=CURSOR_CHUNK)
    )
    for c in rows:
        phone = mask_phone(c.contact.phone) if c.contact is not None and c.contact.phone else ""
        yield (
            c.reference, c.created_at, c.channel, c.category, c.status, c.outcome, phone,
            "yes" if c.escalated_to_dpo else "no", c.acknowledgement, c.first_response_due_at,
            c.first_responded_at, c.first_response_breached_at is not None, c.resolution_due_at, c.resolved_at,
            c.resolution_breached_at is not None, c.outer_limit_at, c.outer_limit_breached_at is not None,
            c.closed_at,
        )


def register_csv(date_range: DateRange) -> Iterator[str]:

    return csv_chunks(REGISTER_COLUMNS, register_rows(date_range))
