"""Complaint reads for the API, the admin queues and the privacy export."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from complaints.clocks import resolution_due
from complaints.models import OPEN_STATUSES, PUBLIC_STATUS, Acknowledgement, Complaint, ComplaintAction, Status
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


# --- The back office: dashboard figures, worklist, customer page, evidence pack, register ------


@dataclass(frozen=True)
class ComplaintFigures:
    """Open complaints now by status and per clock, and those received and resolved in a range."""

    open_by_status: list[tuple[str, int]]  # (status, complaints), the most first
    first_response_overdue: int
    resolution_overdue: int
    outer_limit_breached: int
    overdue: int  # queue_overdue: past any clock
    received_by_category: dict[str, int]
    resolved: int


def complaint_figures(*, since: dt.datetime, until: dt.datetime, now: dt.datetime) -> ComplaintFigures:
    """The dashboard's complaint counts (ComplaintFigures) for the range [since, until): five
    aggregate queries."""
    open_rows = Complaint.objects.filter(status__in=OPEN_STATUSES)
    by_status = [
        (r["status"], r["n"]) for r in open_rows.values("status").annotate(n=Count("id")).order_by("-n", "status")
    ]
    clocks = open_rows.aggregate(
        first_response=Count("id", filter=Q(first_responded_at__isnull=True, first_response_due_at__lte=now)),
        resolution=Count("id", filter=~Q(status=Status.AWAITING_CUSTOMER) & Q(resolution_due_at__lte=now)),
        outer=Count("id", filter=Q(outer_limit_at__lte=now)),
    )
    in_range = Complaint.objects.filter(created_at__gte=since, created_at__lt=until)
    counts = {r["category"]: r["n"] for r in in_range.values("category").annotate(n=Count("id")).order_by()}
    resolved = Complaint.objects.filter(resolved_at__gte=since, resolved_at__lt=until).count()
    return ComplaintFigures(
        open_by_status=by_status,
        first_response_overdue=clocks["first_response"],
        resolution_overdue=clocks["resolution"],
        outer_limit_breached=clocks["outer"],
        overdue=complaints_overdue_count(now=now),
        received_by_category=counts,
        resolved=resolved,
    )


@dataclass(frozen=True)
class ComplaintClockCounts:
    """Open complaints now, and how many of them are past each clock."""

    open: int
    first_response: int  # no first response by its due time
    resolution: int  # not resolved by its due time (time awaiting the customer not counted)
    outer_limit: int  # past the statutory outer limit


def complaint_clock_counts(*, now: dt.datetime) -> ComplaintClockCounts:
    """The open complaints at `now` and those past each clock (monitoring): one aggregate."""
    figures = Complaint.objects.filter(status__in=OPEN_STATUSES).aggregate(
        open=Count("id"),
        first_response=Count("id", filter=Q(first_responded_at__isnull=True, first_response_due_at__lte=now)),
        resolution=Count("id", filter=~Q(status=Status.AWAITING_CUSTOMER) & Q(resolution_due_at__lte=now)),
        outer_limit=Count("id", filter=Q(outer_limit_at__lte=now)),
    )
    return ComplaintClockCounts(open=figures["open"], first_response=figures["first_response"],
                                resolution=figures["resolution"], outer_limit=figures["outer_limit"])


def complaints_overdue_count(*, now: dt.datetime) -> int:
    """How many open complaints are past a clock (queue_overdue), in one count."""
    return queue_overdue(Complaint.objects.all(), now=now).count()


def complaints_ready_for_officer() -> QuerySet[Complaint]:
    """Complaints agents handed to the officers, oldest hand-off first (evidence not read)."""
    return queue_ready_for_officer(Complaint.objects.defer("evidence"))


def complaints_assigned_open(*, user: Any) -> QuerySet[Complaint]:
    """`user`'s open complaints, oldest first (evidence not read)."""
    return Complaint.objects.defer("evidence").filter(assignee=user, status__in=OPEN_STATUSES).order_by("created_at")


@dataclass(frozen=True)
class ComplaintsNeedingSomeone:
    owed: int  # a receipt staff must send
    overdue: int
    unassigned: int  # not counting those handed to the officers


def complaints_needing_someone(*, now: dt.datetime) -> ComplaintsNeedingSomeone:
    """Open complaints owed a receipt, overdue (queue_overdue) or unassigned: three counts."""
    owed = Complaint.objects.filter(acknowledgement=Acknowledgement.OWED, status__in=OPEN_STATUSES).count()
    overdue = complaints_overdue_count(now=now)
    unassigned = Complaint.objects.filter(assignee__isnull=True, status__in=OPEN_STATUSES).exclude(
        status=Status.READY_FOR_OFFICER).count()
    return ComplaintsNeedingSomeone(owed=owed, overdue=overdue, unassigned=unassigned)


def complaints_of_contact(*, contact: Contact, limit: int) -> list[Complaint]:
    """The contact's `limit` newest complaints, by contact or by the number's digest (ones taken
    before the contact existed), with their assignee (evidence not read): one query."""
    match = Complaint.objects.filter(contact=contact)
    if contact.phone_digest:
        match = match | Complaint.objects.filter(phone_digest=contact.phone_digest)
    return list(match.defer("evidence").select_related("assignee").order_by("-created_at")[:limit])


def complaint_resolutions(*, complaint_ids: Collection[int]) -> list[ComplaintAction]:
    """The status changes to resolved of these complaints, with their complaint: one query."""
    return list(ComplaintAction.objects.filter(
        complaint__in=list(complaint_ids), kind=ComplaintAction.Kind.STATUS, to_status=Status.RESOLVED
    ).select_related("complaint"))


def complaints_with_actions(*, contact: Contact) -> list[tuple[Complaint, list[ComplaintAction]]]:
    """The contact's complaints (by contact, or by the number's digest), oldest first, each with
    its actions in order: two queries."""
    match = Q(contact=contact)
    if contact.phone_digest:
        match |= Q(phone_digest=contact.phone_digest)
    complaints = list(Complaint.objects.filter(match).order_by("created_at", "id"))
    actions: dict[int, list[ComplaintAction]] = {}
    for action in ComplaintAction.objects.filter(complaint__in=complaints).order_by("at", "id"):
        actions.setdefault(action.complaint_id, []).append(action)
    return [(c, actions.get(c.pk, [])) for c in complaints]


def complaints_received(*, since: dt.datetime, until: dt.datetime, chunk_size: int) -> Iterator[Complaint]:
    """The complaints received in the range, oldest first, with their contact, through a
    server-side cursor."""
    return (
        Complaint.objects.filter(created_at__gte=since, created_at__lt=until)
        .select_related("contact")
        .order_by("created_at", "id")
        .iterator(chunk_size=chunk_size)
    )
