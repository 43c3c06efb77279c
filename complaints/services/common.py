"""Shared by complaints' services: permissions, the step table, alert kinds, the complaint's lock,
its action record and its evidence snapshot."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from complaints.evidence import complaint_evidence
from complaints.models import (
    Complaint,
    ComplaintAction,
    ComplaintCounter,
    Outcome,
    Status,
)
from pandorakart_wa.core.audit import User

logger = logging.getLogger(__name__)


PERM_ADD = "complaints.add_complaint"


PERM_INVESTIGATE = "complaints.investigate_complaint"


PERM_RESOLVE = "complaints.resolve_complaint"


PERM_ESCALATE = "complaints.escalate_complaint"


PERM_ASSIGN = "complaints.assign_complaint"


ACKNOWLEDGEMENT_TEMPLATE = "complaint_acknowledgement"  # seeded by messaging: Hi {{1}}, ... {{2}} ... by {{3}}


ACKNOWLEDGEMENT_LANGUAGE = "en"


ACKNOWLEDGEMENT_TEXT = (
    "We have received your complaint {reference} and will respond by {due}. You can reply here to add details."
)


GREETING_FALLBACK = "there"  # "Hi there" when the customer gave no name


ALERT_BREACH = "complaint_sla_breach"


ALERT_ESCALATED = "complaint_escalated"


ALERT_STATUTORY = "complaint_statutory_limit"


# (from, to) -> the permission the step needs. Resolving (any open status -> resolved) is
# complaint_resolve's, with an outcome.
TRANSITIONS: dict[tuple[str, str], str] = {
    (Status.RECEIVED, Status.ACKNOWLEDGED): PERM_INVESTIGATE,
    (Status.REOPENED, Status.ACKNOWLEDGED): PERM_INVESTIGATE,
    (Status.RECEIVED, Status.INVESTIGATING): PERM_INVESTIGATE,
    (Status.ACKNOWLEDGED, Status.INVESTIGATING): PERM_INVESTIGATE,
    (Status.REOPENED, Status.INVESTIGATING): PERM_INVESTIGATE,
    (Status.AWAITING_CUSTOMER, Status.INVESTIGATING): PERM_INVESTIGATE,
    (Status.ACKNOWLEDGED, Status.AWAITING_CUSTOMER): PERM_INVESTIGATE,
    (Status.INVESTIGATING, Status.AWAITING_CUSTOMER): PERM_INVESTIGATE,
    (Status.REOPENED, Status.AWAITING_CUSTOMER): PERM_INVESTIGATE,
    # The hand-off: an agent's investigation is done and an officer decides (complaint_hand_off);
    # the officer (or the agent) can send it back to investigation, or ask the customer.
    (Status.ACKNOWLEDGED, Status.READY_FOR_OFFICER): PERM_INVESTIGATE,
    (Status.INVESTIGATING, Status.READY_FOR_OFFICER): PERM_INVESTIGATE,
    (Status.REOPENED, Status.READY_FOR_OFFICER): PERM_INVESTIGATE,
    (Status.READY_FOR_OFFICER, Status.INVESTIGATING): PERM_INVESTIGATE,
    (Status.READY_FOR_OFFICER, Status.AWAITING_CUSTOMER): PERM_INVESTIGATE,
    (Status.RESOLVED, Status.CLOSED): PERM_RESOLVE,
    (Status.RESOLVED, Status.REOPENED): PERM_RESOLVE,
    (Status.CLOSED, Status.REOPENED): PERM_RESOLVE,
}


# Steps that must say why (what was asked of the customer; why the complaint is open again).
NOTE_REQUIRED = frozenset({Status.AWAITING_CUSTOMER, Status.REOPENED, Status.READY_FOR_OFFICER})


NOTE_REQUIRED_MESSAGES: dict[str, str] = {
    Status.AWAITING_CUSTOMER: "Say what was asked of the customer.",
    Status.REOPENED: "Say why it is reopened.",
    Status.READY_FOR_OFFICER: "Write the findings the officer decides on.",
}


TEMPLATE_OUTCOMES = frozenset({Outcome.TEMPLATE_MISCLASSIFIED_PAUSED, Outcome.CONTENT_WITHDRAWN})


CONTACT_OUTCOMES = frozenset({Outcome.CONSENT_MISSING_CONTACT_SUPPRESSED, Outcome.OPT_OUT_NOT_HONOURED_FIXED})


INDIA = ZoneInfo(settings.TIME_ZONE)  # the business's calendar (references, dates told to customers)


def complaint_locked(complaint: Complaint | int) -> Complaint:
    pk = complaint.pk if isinstance(complaint, Complaint) else complaint
    # The evidence snapshot can be large (every message of 90 days): loaded only when read.
    return (
        Complaint.objects.select_for_update(of=("self",))
        .select_related("contact", "message", "template")
        .defer("evidence")
        .get(pk=pk)
    )


def action_record(
    complaint: Complaint,
    kind: str,
    *,
    actor: User | None,
    at: dt.datetime,
    from_status: str = "",
    to_status: str = "",
    note: str = "",
    internal: bool = True,
    detail: Mapping[str, Any] | None = None,
) -> ComplaintAction:
    return ComplaintAction.objects.create(
        complaint=complaint,
        at=at,
        actor_id=actor.pk if actor is not None else None,
        actor_label=str(actor.get_username())[:200] if actor is not None else "",
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        note=note,
        internal=internal,
        detail=dict(detail or {}),
    )


def evidence_store(complaint: Complaint, now: dt.datetime) -> None:
    """Assemble and store the evidence snapshot. Written with an UPDATE: the snapshot can be
    large and is excluded from the audit log, whose pre-save diff would read and decode the
    previous one (the timeline records the assembly)."""
    complaint.evidence = complaint_evidence(complaint, now=now)
    complaint.evidence_at = now
    Complaint.objects.filter(pk=complaint.pk).update(evidence=complaint.evidence, evidence_at=now, updated_at=now)


def next_reference_number(year: int) -> int:
    """The next reference number of `year`, under the year's counter row lock (held until
    commit: concurrent intakes number one after the other; only a rollback leaves a gap)."""
    ComplaintCounter.objects.bulk_create([ComplaintCounter(year=year, last=0)], ignore_conflicts=True)
    counter = ComplaintCounter.objects.select_for_update().get(year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return counter.last


def format_reference(year: int, number: int) -> str:
    return f"CMP-{year}-{number:06d}"
