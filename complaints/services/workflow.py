"""The investigation's steps: who may move a complaint where, the hand-off to an officer, the
resolution and what it changes (templates paused, consent fixed)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from complaints.models import (
    OPEN_STATUSES,
    Complaint,
    ComplaintAction,
    Outcome,
    Status,
)
from complaints.services.common import (
    CONTACT_OUTCOMES,
    NOTE_REQUIRED,
    NOTE_REQUIRED_MESSAGES,
    PERM_RESOLVE,
    TEMPLATE_OUTCOMES,
    TRANSITIONS,
    action_record,
    complaint_locked,
)
from consent.models import Source
from consent.purposes import Purpose
from consent.services.blocking import contact_block
from consent.services.common import ConsentError
from consent.services.optin import consent_opt_out
from consent.types import Actor as ConsentActor
from messaging.models import HoldReason
from messaging.services.holds import template_hold
from pandorakart_wa.core.audit import User, is_system
from pandorakart_wa.core.roles import authorise, may


def status_move(complaint: Complaint, to_status: str, *, actor: User | None, now: dt.datetime, note: str,
          detail: Mapping[str, Any] | None = None, internal: bool = True) -> None:
    """Change the status and run the clocks' bookkeeping (caller holds the row lock)."""
    old = complaint.status
    if old == Status.RECEIVED and complaint.first_responded_at is None:
        complaint.first_responded_at = now
    if old == Status.AWAITING_CUSTOMER and complaint.paused_at is not None:
        _resume_clock(complaint, now - complaint.paused_at)
        complaint.paused_at = None
    if old in (Status.RESOLVED, Status.CLOSED) and to_status == Status.REOPENED and complaint.resolved_at:
        _resume_clock(complaint, now - complaint.resolved_at)  # the time it stood resolved does not count
        complaint.outcome = ""
        complaint.resolution = ""
        complaint.resolved_at = None
        complaint.resolved_by = None
        complaint.closed_at = None
    if to_status == Status.AWAITING_CUSTOMER:
        complaint.paused_at = now
    if to_status == Status.CLOSED:
        complaint.closed_at = now
    complaint.status = to_status
    complaint.save()
    action_record(complaint, ComplaintAction.Kind.STATUS, actor=actor, at=now, from_status=old, to_status=to_status,
            note=note, detail=detail, internal=internal)


def _resume_clock(complaint: Complaint, paused: dt.timedelta) -> None:
    paused = max(paused, dt.timedelta(0))
    complaint.paused_seconds += int(paused.total_seconds())
    complaint.resolution_due_at = min(complaint.resolution_due_at + paused, complaint.outer_limit_at)


def transition_permission(from_status: str, to_status: str) -> str | None:
    """The permission a step needs, or None when the workflow has no such step."""
    if to_status == Status.RESOLVED:
        return PERM_RESOLVE if from_status in OPEN_STATUSES else None
    return TRANSITIONS.get((from_status, to_status))


def allowed_steps(complaint: Complaint, actor: User) -> list[str]:
    """The statuses `actor` may move `complaint` to now (the admin shows these buttons)."""
    steps = [to for (frm, to) in TRANSITIONS if frm == complaint.status]
    if complaint.status in OPEN_STATUSES:
        steps.append(Status.RESOLVED)
    return [s for s in dict.fromkeys(steps) if may(actor, str(transition_permission(complaint.status, s)))]


@transaction.atomic
def complaint_transition(
    *, complaint: Complaint, to_status: str, actor: User, note: str = "", now: dt.datetime | None = None
) -> Complaint:
    """One workflow step other than resolving (see complaint_resolve). Awaiting the customer
    pauses the resolution clock; leaving it resumes the clock, later by the time paused."""
    now = now or timezone.now()
    complaint = complaint_locked(complaint)
    if to_status == Status.RESOLVED:
        raise ValidationError({"status": "Resolve with an outcome (complaint_resolve)."})
    permission = TRANSITIONS.get((complaint.status, to_status))
    if permission is None:
        raise ValidationError(
            {"status": f"A {complaint.get_status_display().lower()} complaint cannot move to {to_status}."}
        )
    authorise(actor, permission, f"move complaints to {to_status}")
    if to_status in NOTE_REQUIRED and not note.strip():
        raise ValidationError({"note": NOTE_REQUIRED_MESSAGES.get(to_status, "Say why.")})
    status_move(complaint, to_status, actor=actor, now=now, note=note.strip())
    return complaint


@transaction.atomic
def complaint_hand_off(
    *, complaint: Complaint, findings: str, actor: User, proposed_outcome: str = "", now: dt.datetime | None = None
) -> Complaint:
    """An agent's investigation is done: the complaint waits in the officers' queue ("Ready for
    an officer") with the findings and, optionally, the outcome the agent proposes. The officer
    resolves it (or sends it back); the resolution clock keeps running meanwhile."""
    now = now or timezone.now()
    complaint = complaint_locked(complaint)
    permission = TRANSITIONS.get((complaint.status, Status.READY_FOR_OFFICER))
    if permission is None:
        raise ValidationError(
            {"status": f"A {complaint.get_status_display().lower()} complaint cannot be handed to an officer."}
        )
    authorise(actor, permission, "hand complaints to an officer")
    errors: dict[str, str] = {}
    if not findings.strip():
        errors["note"] = NOTE_REQUIRED_MESSAGES[Status.READY_FOR_OFFICER]
    if proposed_outcome and proposed_outcome not in Outcome.values:
        errors["proposed_outcome"] = f"Use one of: {', '.join(Outcome.values)}."
    if errors:
        raise ValidationError(errors)
    detail = {"proposed_outcome": proposed_outcome} if proposed_outcome else None
    label = f" Proposed outcome: {Outcome(proposed_outcome).label}." if proposed_outcome else ""
    status_move(complaint, Status.READY_FOR_OFFICER, actor=actor, now=now, note=f"{findings.strip()}{label}", detail=detail)
    return complaint


def proposed_outcome(complaint: Complaint) -> str:
    """The outcome proposed at the complaint's latest hand-off, while it waits for an officer."""
    if complaint.status != Status.READY_FOR_OFFICER:
        return ""
    action = (
        complaint.actions.filter(kind=ComplaintAction.Kind.STATUS, to_status=Status.READY_FOR_OFFICER)
        .order_by("-at", "-id")
        .first()
    )
    return str((action.detail or {}).get("proposed_outcome") or "") if action is not None else ""


@transaction.atomic
def complaint_resolve(
    *, complaint: Complaint, outcome: str, resolution: str, actor: User, now: dt.datetime | None = None
) -> Complaint:
    """Resolve with an outcome code and the resolution the customer is told. Outcomes that
    imply an action run it through the owning app's service in this transaction: suppress the
    contact (consent), hold the template (messaging). Any refusal rolls everything back."""
    authorise(actor, PERM_RESOLVE, "resolve complaints")
    now = now or timezone.now()
    complaint = complaint_locked(complaint)
    errors: dict[str, str] = {}
    if complaint.status not in OPEN_STATUSES:
        errors["status"] = f"A {complaint.get_status_display().lower()} complaint cannot be resolved."
    if outcome not in Outcome.values:
        errors["outcome"] = f"Use one of: {', '.join(Outcome.values)}."
    if not resolution.strip():
        errors["resolution"] = "Write the resolution the customer is told."
    if errors:
        raise ValidationError(errors)
    detail = _outcome_action(complaint, outcome, resolution.strip(), actor, now)
    complaint.outcome = outcome
    complaint.resolution = resolution.strip()
    complaint.resolved_at = now
    complaint.resolved_by = actor if not is_system(actor) else None  # type: ignore[assignment]
    # The timeline says what was decided and what the customer was told (the API shows the
    # same resolution text), not only that the status changed.
    status_move(complaint, Status.RESOLVED, actor=actor, now=now,
          note=f"Outcome: {Outcome(outcome).label}. Told the customer: {complaint.resolution}",
          detail={"outcome": outcome, "resolution": complaint.resolution}, internal=False)
    if detail is not None:
        action_record(complaint, ComplaintAction.Kind.OUTCOME_ACTION, actor=actor, at=now, note=detail.pop("note"),
                detail=detail)
    return complaint


def _outcome_action(
    complaint: Complaint, outcome: str, resolution: str, actor: User, now: dt.datetime
) -> dict[str, Any] | None:
    reference = complaint.reference
    if outcome in CONTACT_OUTCOMES:
        contact = complaint.contact
        if contact is None:
            raise ValidationError({"outcome": "This outcome needs a complaint that names a customer."})
        try:
            if outcome == Outcome.CONSENT_MISSING_CONTACT_SUPPRESSED:
                if not contact.phone:  # erased or BSUID-only: block instead (no number to opt out)
                    contact_block(contact=contact, reason=f"Complaint {reference}: consent missing",
                                  actor=ConsentActor.of_user(actor))
                    return {"note": "Contact blocked (no number held to opt out).", "blocked": True}
                receipt = consent_opt_out(
                    phone=contact.phone, purposes=None, source=Source.SUPPORT_AGENT, actor=ConsentActor.of_user(actor),
                    reason=f"Complaint {reference}: consent missing", evidence={"complaint": reference},
                )
                purposes: list[str] = list(Purpose.values)
            else:
                if not contact.phone:
                    raise ValidationError({"outcome": "The contact holds no number to record the opt-out for."})
                purposes = [complaint.message.purpose] if complaint.message is not None else [Purpose.MARKETING]
                receipt = consent_opt_out(
                    phone=contact.phone, purposes=purposes, source=Source.SUPPORT_AGENT,
                    actor=ConsentActor.of_user(actor), reason=f"Complaint {reference}: opt-out not honoured",
                    evidence={"complaint": reference},
                )
        except ConsentError as exc:
            raise ValidationError({"outcome": str(exc)}) from exc
        return {
            "note": f"Opted out of {', '.join(purposes)} in the consent ledger.",
            "consent_events": [e.public_id for e in receipt.events],
        }
    if outcome in TEMPLATE_OUTCOMES:
        template = complaint.template or (complaint.message.template if complaint.message is not None else None)
        if template is None:
            raise ValidationError({"outcome": "This outcome needs a complaint about a template or message."})
        label = Outcome(outcome).label
        template_hold(
            template=template, reason=HoldReason.COMPLAINT, actor=actor,
            note=f"Complaint {reference}: {label}. {resolution[:300]}",
        )
        return {"note": f"Template {template} held until a compliance officer releases it.", "template": template.pk}
    return None
