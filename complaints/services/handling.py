"""Assignment, escalation and notes."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from complaints.models import (
    Category,
    Complaint,
    ComplaintAction,
    Status,
)
from complaints.services.common import (
    ALERT_ESCALATED,
    PERM_ASSIGN,
    PERM_ESCALATE,
    PERM_INVESTIGATE,
    action_record,
    complaint_locked,
    evidence_store,
)
from complaints.services.workflow import status_move
from pandorakart_wa.core.audit import User, is_system
from pandorakart_wa.core.roles import authorise, may
from profile.services.alerts import alert_raise


@transaction.atomic
def complaint_assign(
    *, complaint: Complaint, assignee: User | None, actor: User, now: dt.datetime | None = None
) -> Complaint:
    """Take a complaint (anyone who investigates may assign it to themselves) or assign it to
    someone else / nobody (`assign_complaint`)."""
    if assignee is not None and assignee.pk == actor.pk:
        authorise(actor, PERM_INVESTIGATE, "take complaints")
    else:
        authorise(actor, PERM_ASSIGN, "assign complaints to others")
    if assignee is not None and not (getattr(assignee, "is_staff", False) and may(assignee, PERM_INVESTIGATE)):
        raise ValidationError({"assignee": "Assign to a staff member who investigates complaints."})
    now = now or timezone.now()
    complaint = complaint_locked(complaint)
    if not complaint.is_open:
        raise ValidationError({"assignee": "Only an open complaint is assigned."})
    old = complaint.assignee
    complaint.assignee = assignee  # type: ignore[assignment]
    complaint.save(update_fields=["assignee", "updated_at"])
    action_record(complaint, ComplaintAction.Kind.ASSIGNED, actor=actor, at=now,
            note=f"Assigned to {assignee.get_username() if assignee else 'nobody'}.",
            detail={"from": old.get_username() if old else None, "to": assignee.get_username() if assignee else None})
    return complaint


def escalate(
    complaint: Complaint, *, reason: str, actor: User | None, now: dt.datetime, alert: bool = True
) -> None:
    complaint.escalated_to_dpo = True
    complaint.escalated_at = now
    complaint.escalated_by = actor if actor is not None and not is_system(actor) else None  # type: ignore[assignment]
    complaint.escalation_reason = reason
    complaint.save(update_fields=["escalated_to_dpo", "escalated_at", "escalated_by", "escalation_reason",
                                  "updated_at"])
    action_record(complaint, ComplaintAction.Kind.ESCALATED, actor=actor, at=now, note=reason)
    if not alert:
        return
    alert_raise(
        kind=ALERT_ESCALATED, title=f"Complaint {complaint.reference} escalated to the DPO", detail=reason,
        dedupe_key=f"complaint-escalated:{complaint.reference}", subject=complaint,
    )


@transaction.atomic
def complaint_escalate(
    *, complaint: Complaint, reason: str, actor: User, now: dt.datetime | None = None
) -> Complaint:
    """Flag the complaint to the data protection officer (it keeps its status)."""
    authorise(actor, PERM_ESCALATE, "escalate complaints")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the DPO must look at it."})
    complaint = complaint_locked(complaint)
    if complaint.escalated_to_dpo:
        raise ValidationError({"reason": "Already escalated."})
    escalate(complaint, reason=reason.strip(), actor=actor, now=now or timezone.now())
    return complaint


@transaction.atomic
def complaint_add_note(
    *, complaint: Complaint, note: str, actor: User, now: dt.datetime | None = None
) -> ComplaintAction:
    """An internal note: on the timeline for staff, never shown through the API."""
    authorise(actor, PERM_INVESTIGATE, "add notes to complaints")
    if not note.strip():
        raise ValidationError({"note": "Write the note."})
    complaint = complaint_locked(complaint)
    return action_record(complaint, ComplaintAction.Kind.NOTE, actor=actor, at=now or timezone.now(), note=note.strip())


@transaction.atomic
def complaint_set_category(
    *, complaint: Complaint, category: str, actor: User, now: dt.datetime | None = None
) -> Complaint:
    """Correct the category (a WhatsApp complaint arrives as `other` or `unwanted_messages`)."""
    authorise(actor, PERM_INVESTIGATE, "recategorise complaints")
    if category not in Category.values:
        raise ValidationError({"category": "Unknown category."})
    complaint = complaint_locked(complaint)
    old = complaint.category
    if old == category:
        return complaint
    complaint.category = category
    complaint.save(update_fields=["category", "updated_at"])
    action_record(complaint, ComplaintAction.Kind.DETAILS, actor=actor, at=now or timezone.now(),
            note=f"Category {old} → {category}.", detail={"category": [old, category]})
    return complaint


@transaction.atomic
def complaint_refresh_evidence(*, complaint: Complaint, actor: User, now: dt.datetime | None = None) -> Complaint:
    """Assemble the evidence again (consent ledger, messages, earlier complaints) as of now."""
    authorise(actor, PERM_INVESTIGATE, "refresh evidence")
    now = now or timezone.now()
    complaint = complaint_locked(complaint)
    evidence_store(complaint, now)
    action_record(complaint, ComplaintAction.Kind.EVIDENCE, actor=actor, at=now, note="Evidence assembled again.")
    return complaint


@transaction.atomic
def complaint_customer_message(
    *, complaint: Complaint, text: str, wamid: str, actor: User, at: dt.datetime | None = None
) -> Complaint:
    """The customer wrote again on WhatsApp: on the timeline, and a complaint awaiting them
    resumes (its clock too)."""
    now = at or timezone.now()
    complaint = complaint_locked(complaint)
    action_record(complaint, ComplaintAction.Kind.CUSTOMER_MESSAGE, actor=actor, at=now, note=text[:4096], internal=False,
            detail={"wamid": wamid})
    if complaint.status == Status.AWAITING_CUSTOMER:
        status_move(complaint, Status.INVESTIGATING, actor=actor, now=now, note="The customer replied.")
    return complaint
