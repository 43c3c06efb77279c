"""Complaint reads for the API, the admin queues and the privacy export."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from complaints.clocks import resolution_due
from complaints.models import OPEN_STATUSES, PUBLIC_STATUS, Complaint, Status
from consent.models import Contact


def complaint_by_reference(reference: str) -> Complaint | None:
    return Complaint.objects.defer("evidence").filter(reference=reference.strip().upper()).first()


def public_document(complaint: Complaint, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """What the customer may see (API.md): no staff notes, no assignee, no evidence."""
    now = now or timezone.now()
    resolution = None
    if complaint.status in (Status.RESOLVED, Status.CLOSED) and complaint.outcome:
        resolution = {
            "outcome": complaint.outcome,
            "summary": complaint.resolution,
            "resolved_at": complaint.resolved_at,
        }
    return {
        "reference": complaint.reference,
        "status": PUBLIC_STATUS.get(complaint.status, complaint.status),  # staff-only steps read as investigating
        "category": complaint.category,
        "channel": complaint.channel,
        "created_at": complaint.created_at,
        "acknowledge_by": complaint.first_response_due_at,
        "resolve_by": resolution_due(complaint, now),
        "resolution": resolution,
    }


# --- admin queues --------------------------------------------------------------------------


def queue_mine(queryset: QuerySet[Complaint], user: Any) -> QuerySet[Complaint]:
    return queryset.filter(assignee=user, status__in=OPEN_STATUSES)


def queue_unassigned(queryset: QuerySet[Complaint]) -> QuerySet[Complaint]:
    return queryset.filter(assignee__isnull=True, status__in=OPEN_STATUSES)


def queue_overdue(queryset: QuerySet[Complaint], *, now: dt.datetime | None = None) -> QuerySet[Complaint]:
    """Open complaints past a clock: first response not given in time, or resolution due
    (a complaint awaiting the customer is overdue only once the statutory limit passed)."""
    now = now or timezone.now()
    first = Q(first_responded_at__isnull=True, first_response_due_at__lte=now)
    resolution = ~Q(status=Status.AWAITING_CUSTOMER) & Q(resolution_due_at__lte=now)
    statutory = Q(outer_limit_at__lte=now)
    return queryset.filter(Q(status__in=OPEN_STATUSES) & (first | resolution | statutory))


def queue_ready_for_officer(queryset: QuerySet[Complaint]) -> QuerySet[Complaint]:
    """Complaints an agent has handed to the officers, oldest hand-off first."""
    return queryset.filter(status=Status.READY_FOR_OFFICER).order_by("updated_at", "id")


def queue_escalated(queryset: QuerySet[Complaint]) -> QuerySet[Complaint]:
    return queryset.filter(escalated_to_dpo=True, status__in=OPEN_STATUSES)


# --- privacy export (consent.hooks.privacy_exporters) -------------------------------------


def complaints_export(*, contact: Contact) -> list[dict[str, Any]]:
    """The complaints of a customer for GET /api/v1/privacy/export: what they told us and what
    we answered; staff notes are internal and not part of it."""
    rows = Complaint.objects.defer("evidence").filter(
        Q(contact=contact) | (Q(phone_digest=contact.phone_digest) if contact.phone_digest else Q(pk__in=[]))
    ).order_by("created_at", "id")
    return [{**public_document(c), "description": c.description} for c in rows]
