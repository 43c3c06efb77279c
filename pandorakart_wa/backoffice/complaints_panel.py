"""The complaints app's part of the dashboard, the reports and the evidence pack.

Figures are GROUP BYs over the complaints table, read through complaints.selectors
(complaint_figures); "overdue" is complaints' own queue (queue_overdue), so the dashboard and
the admin queue always agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.utils import timezone
from django.utils.safestring import SafeString

from complaints.models import Category, Complaint, Status
from complaints.selectors import complaint_figures, complaints_received, complaints_with_actions
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
    figures = complaint_figures(since=date_range.since, until=date_range.until, now=now)
    labels = dict(Status.choices)
    by_status = [(_short(str(labels.get(status, status))), n) for status, n in figures.open_by_status]
    counts = figures.received_by_category
    categories = [(_short(str(c.label)), counts.get(c, 0)) for c in Category]
    return {
        "open": sum(n for _, n in by_status),
        "by_status": by_status,
        "overdue": figures.overdue,
        "first_response_overdue": figures.first_response_overdue,
        "resolution_overdue": figures.resolution_overdue,
        "outer_limit_breached": figures.outer_limit_breached,
        "received": sum(counts.values()),
        "resolved": figures.resolved,
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
                for a in actions
            ],
        }
        for c, actions in complaints_with_actions(contact=contact)
    ]


def register_label() -> type[Complaint]:
    return Complaint


def register_rows(date_range: DateRange) -> Iterator[tuple[Any, ...]]:
    """The complaints received in the range, oldest first: no personal data but a masked number
    (the description and contact details stay in the admin)."""
    rows = complaints_received(since=date_range.since, until=date_range.until, chunk_size=CURSOR_CHUNK)
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
