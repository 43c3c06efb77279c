"""Every complaint write: intake, workflow, assignment, escalation, notes, outcomes, clocks.

Each service is one transaction that also appends the ComplaintAction describing it (the
timeline is the complaint's legal record; django-auditlog adds field history on top). Roles are
checked here, not only in the admin: Support agents investigate (`investigate_complaint`:
acknowledge, investigate, await the customer, note, take a complaint), Compliance officers also
resolve, close and reopen (`resolve_complaint`), escalate (`escalate_complaint`) and assign
anyone (`assign_complaint`); Auditors only read. System actors (tasks, webhooks, commands) pass.

A complaint always commits before its acknowledgement is attempted: the attempt runs on
commit, and whatever happens to it the complaint is kept (a failed attempt leaves it owed).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from complaints.clocks import first_response_window, outer_limit_window, resolution_due, resolution_window
from complaints.evidence import complaint_evidence
from complaints.intake import normalize_phrase
from complaints.models import (
    API_CHANNELS,
    DESCRIPTION_MAX_LENGTH,
    OPEN_STATUSES,
    Acknowledgement,
    Category,
    Channel,
    Complaint,
    ComplaintAction,
    ComplaintCounter,
    IntakeTrigger,
    Outcome,
    Status,
)
from consent.models import Contact, Source
from consent.purposes import Purpose
from consent.selectors import contact_for_phone
from consent.services import ConsentError, consent_opt_out, contact_block
from consent.types import Actor as ConsentActor
from messaging.models import HoldReason, Message, MessageTemplate
from messaging.outbox import MessageInvalid, MessageRefused, message_accept, message_reply
from messaging.services import template_hold
from pandorakart_wa.core.audit import API_KEY_USER_PREFIX, User, is_system
from pandorakart_wa.core.phones import InvalidPhoneNumber, normalize_phone, phone_digest
from pandorakart_wa.core.roles import authorise, may
from profile.services import alert_raise

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


# --- helpers -------------------------------------------------------------------------------


def _locked(complaint: Complaint | int) -> Complaint:
    pk = complaint.pk if isinstance(complaint, Complaint) else complaint
    # The evidence snapshot can be large (every message of 90 days): loaded only when read.
    return (
        Complaint.objects.select_for_update(of=("self",))
        .select_related("contact", "message", "template")
        .defer("evidence")
        .get(pk=pk)
    )


def _record(
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


def _store_evidence(complaint: Complaint, now: dt.datetime) -> None:
    """Assemble and store the evidence snapshot. Written with an UPDATE: the snapshot can be
    large and is excluded from the audit log, whose pre-save diff would read and decode the
    previous one (the timeline records the assembly)."""
    complaint.evidence = complaint_evidence(complaint, now=now)
    complaint.evidence_at = now
    Complaint.objects.filter(pk=complaint.pk).update(evidence=complaint.evidence, evidence_at=now, updated_at=now)


def _next_number(year: int) -> int:
    """The next reference number of `year`, under the year's counter row lock (held until
    commit: concurrent intakes number one after the other; only a rollback leaves a gap)."""
    ComplaintCounter.objects.bulk_create([ComplaintCounter(year=year, last=0)], ignore_conflicts=True)
    counter = ComplaintCounter.objects.select_for_update().get(year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return counter.last


def format_reference(year: int, number: int) -> str:
    return f"CMP-{year}-{number:06d}"


def _message(message_id: Any) -> Message | None:
    try:
        key = message_id if isinstance(message_id, uuid.UUID) else uuid.UUID(str(message_id))
    except (TypeError, ValueError):
        return None
    return Message.objects.select_related("contact", "template").filter(pk=key).first()


# --- intake --------------------------------------------------------------------------------


@transaction.atomic
def complaint_create(
    *,
    channel: str,
    category: str,
    description: str,
    actor: User,
    phone: str | None = None,
    contact: Contact | None = None,
    message_id: Any = None,
    template: MessageTemplate | None = None,
    customer_name: str = "",
    contact_details: str = "",
    intake_wamid: str | None = None,
    acknowledge: bool = True,
    now: dt.datetime | None = None,
) -> Complaint:
    """Take in a complaint from any channel and number it CMP-<year>-<NNNNNN>.

    `phone` (any accepted format) or `contact` names the customer; `message_id` the message
    complained about (it must exist). Raises ValidationError naming each bad field; nothing is
    written then. The evidence is assembled at once when a customer is named, and the customer
    is acknowledged after commit (`acknowledge=False` for internal investigations).
    """
    if not str(actor.get_username()).startswith(API_KEY_USER_PREFIX):
        authorise(actor, PERM_ADD, "take in complaints")
    now = now or timezone.now()
    errors: dict[str, str] = {}
    if channel not in Channel.values:
        errors["channel"] = f"Use one of: {', '.join(API_CHANNELS)}."
    if category not in Category.values:
        errors["category"] = "Unknown category."
    text = (description or "").strip()
    if not text:
        errors["description"] = "Describe the complaint."
    elif len(text) > DESCRIPTION_MAX_LENGTH:
        errors["description"] = f"At most {DESCRIPTION_MAX_LENGTH} characters."
    e164: str | None = None
    if phone:
        try:
            e164 = normalize_phone(phone)
        except InvalidPhoneNumber as exc:
            errors["phone"] = str(exc)
    message: Message | None = None
    if message_id not in (None, ""):
        message = _message(message_id)
        if message is None:
            errors["message_id"] = "No message has this id."
    if errors:
        raise ValidationError(errors)

    if contact is None and e164:
        contact = contact_for_phone(e164)
    if contact is None and message is not None:
        contact = message.contact
    digest = phone_digest(e164) if e164 else (contact.phone_digest or "" if contact is not None else "")
    if template is None and message is not None:
        template = message.template
    year = timezone.localtime(now, INDIA).year  # India's calendar, whatever the request's time zone
    number = _next_number(year)
    outer_limit = now + outer_limit_window()
    complaint = Complaint.objects.create(
        reference=format_reference(year, number),
        year=year,
        number=number,
        channel=channel,
        category=category,
        description=text,
        customer_name=customer_name.strip()[:200],
        contact=contact,
        phone_digest=digest,
        contact_details=(contact_details.strip() or (e164 if contact is None and e164 else ""))[:500],
        message=message,
        template=template,
        intake_wamid=intake_wamid or None,
        acknowledgement=Acknowledgement.PENDING if acknowledge else Acknowledgement.NOT_NEEDED,
        first_response_due_at=now + first_response_window(),
        resolution_due_at=min(now + resolution_window(), outer_limit),
        outer_limit_at=outer_limit,
        created_by=str(actor.get_username())[:200],
        created_at=now,
    )
    _record(
        complaint, ComplaintAction.Kind.CREATED, actor=actor, at=now, to_status=Status.RECEIVED,
        note=f"Received by {complaint.get_channel_display()}.", internal=False,
        detail={"channel": channel, "category": category, "message": str(message.pk) if message else None},
    )
    if contact is not None or template is not None:
        _store_evidence(complaint, now)
    if acknowledge:
        transaction.on_commit(partial(_acknowledge_after_commit, complaint.pk))
    return complaint


def _acknowledge_after_commit(complaint_id: int) -> None:
    """Runs after the complaint committed: whatever fails here, the complaint is kept."""
    try:
        complaint_acknowledgement_send(complaint_id=complaint_id)
    except Exception as exc:
        logger.exception("Acknowledging complaint %s failed; marking it owed", complaint_id)
        try:
            complaint_acknowledgement_owe(complaint_id=complaint_id, reason=f"The attempt failed: {exc!r}"[:300])
        except Exception:
            logger.exception("Could not mark the acknowledgement of complaint %s owed", complaint_id)


def _due_text(complaint: Complaint, now: dt.datetime) -> str:
    local = timezone.localtime(resolution_due(complaint, now), INDIA)
    return f"{local.day} {local:%b %Y}"


def _ack_by_template(complaint: Complaint, contact: Contact, now: dt.datetime) -> tuple[Message | None, str]:
    if not contact.phone:
        return None, "template: no number held (erased, or known only by its WhatsApp user id)"
    try:
        accepted = message_accept(
            to=contact.phone,
            template=ACKNOWLEDGEMENT_TEMPLATE,
            language=ACKNOWLEDGEMENT_LANGUAGE,
            variables=[complaint.customer_name or GREETING_FALLBACK, complaint.reference, _due_text(complaint, now)],
            created_by="complaints:acknowledgement",
        )
    except MessageRefused as exc:
        return None, f"template: {exc.code}"
    except MessageInvalid as exc:
        return None, f"template: {exc}"
    return accepted.message, ""


def _ack_by_reply(complaint: Complaint, contact: Contact, now: dt.datetime) -> tuple[Message | None, str]:
    text = ACKNOWLEDGEMENT_TEXT.format(reference=complaint.reference, due=_due_text(complaint, now))
    message = message_reply(contact=contact, text=text, reply_to_wamid=complaint.intake_wamid or "")
    if message is None:
        return None, "reply: outside the 24-hour service window"
    return message, ""


@transaction.atomic
def complaint_acknowledgement_send(*, complaint_id: int, now: dt.datetime | None = None) -> Complaint:
    """Tell the customer on WhatsApp that the complaint was received: a reply inside the open
    service window (first, for a complaint made on WhatsApp), else the `complaint_acknowledgement`
    utility template when their consent allows it. Otherwise the acknowledgement is owed on the
    complaint's own channel, for staff (or not possible at all for an anonymous complaint)."""
    now = now or timezone.now()
    complaint = _locked(complaint_id)
    if complaint.acknowledgement != Acknowledgement.PENDING:
        return complaint
    contact = complaint.contact
    if contact is None:
        if complaint.contact_details:
            return _owe(complaint, f"No WhatsApp contact: acknowledge by {complaint.get_channel_display()}.", now)
        complaint.acknowledgement = Acknowledgement.ANONYMOUS
        complaint.acknowledgement_detail = "Anonymous: the reference given at intake is the only receipt possible."
        complaint.save(update_fields=["acknowledgement", "acknowledgement_detail", "updated_at"])
        _record(complaint, ComplaintAction.Kind.ACKNOWLEDGEMENT, actor=None, at=now,
                note=complaint.acknowledgement_detail)
        return complaint
    attempts = (_ack_by_reply, _ack_by_template) if complaint.channel == Channel.WHATSAPP else (
        _ack_by_template, _ack_by_reply)
    reasons: list[str] = []
    for attempt in attempts:
        message, why = attempt(complaint, contact, now)
        if message is not None:
            complaint.acknowledgement = Acknowledgement.SENT
            complaint.acknowledgement_channel = Channel.WHATSAPP
            complaint.acknowledgement_message = message
            complaint.acknowledgement_detail = ""
            complaint.save(update_fields=["acknowledgement", "acknowledgement_channel", "acknowledgement_message",
                                          "acknowledgement_detail", "updated_at"])
            _record(complaint, ComplaintAction.Kind.ACKNOWLEDGEMENT, actor=None, at=now, internal=False,
                    note="Acknowledgement queued on WhatsApp.", detail={"message": str(message.pk)})
            return complaint
        reasons.append(why)
    return _owe(complaint, "; ".join(reasons), now)


def _owe(complaint: Complaint, reason: str, now: dt.datetime) -> Complaint:
    complaint.acknowledgement = Acknowledgement.OWED
    complaint.acknowledgement_channel = complaint.channel
    complaint.acknowledgement_detail = reason[:300]
    complaint.save(update_fields=["acknowledgement", "acknowledgement_channel", "acknowledgement_detail",
                                  "updated_at"])
    _record(complaint, ComplaintAction.Kind.ACKNOWLEDGEMENT, actor=None, at=now,
            note=f"Acknowledgement owed by {complaint.get_channel_display()}: {reason}"[:1000])
    return complaint


@transaction.atomic
def complaint_acknowledgement_owe(*, complaint_id: int, reason: str, now: dt.datetime | None = None) -> Complaint:
    complaint = _locked(complaint_id)
    if complaint.acknowledgement != Acknowledgement.PENDING:
        return complaint
    return _owe(complaint, reason, now or timezone.now())


@transaction.atomic
def complaint_acknowledgement_record(
    *, complaint: Complaint, note: str, actor: User, now: dt.datetime | None = None
) -> Complaint:
    """Staff acknowledged the customer themselves (email, phone...). A complaint still in
    `received` moves to `acknowledged`: that is its first response."""
    authorise(actor, PERM_INVESTIGATE, "record acknowledgements")
    if not note.strip():
        raise ValidationError({"note": "Say how and when the customer was acknowledged."})
    now = now or timezone.now()
    complaint = _locked(complaint)
    if complaint.acknowledgement == Acknowledgement.SENT:
        raise ValidationError("The acknowledgement was already sent on WhatsApp.")
    complaint.acknowledgement = Acknowledgement.RECORDED
    complaint.acknowledgement_channel = complaint.acknowledgement_channel or complaint.channel
    complaint.save(update_fields=["acknowledgement", "acknowledgement_channel", "updated_at"])
    _record(complaint, ComplaintAction.Kind.ACKNOWLEDGEMENT, actor=actor, at=now, note=note.strip())
    if complaint.status == Status.RECEIVED:
        _move(complaint, Status.ACKNOWLEDGED, actor=actor, now=now, note="")
    return complaint


# --- workflow ------------------------------------------------------------------------------


def _move(complaint: Complaint, to_status: str, *, actor: User | None, now: dt.datetime, note: str,
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
    _record(complaint, ComplaintAction.Kind.STATUS, actor=actor, at=now, from_status=old, to_status=to_status,
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
    complaint = _locked(complaint)
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
    _move(complaint, to_status, actor=actor, now=now, note=note.strip())
    return complaint


@transaction.atomic
def complaint_hand_off(
    *, complaint: Complaint, findings: str, actor: User, proposed_outcome: str = "", now: dt.datetime | None = None
) -> Complaint:
    """An agent's investigation is done: the complaint waits in the officers' queue ("Ready for
    an officer") with the findings and, optionally, the outcome the agent proposes. The officer
    resolves it (or sends it back); the resolution clock keeps running meanwhile."""
    now = now or timezone.now()
    complaint = _locked(complaint)
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
    _move(complaint, Status.READY_FOR_OFFICER, actor=actor, now=now, note=f"{findings.strip()}{label}", detail=detail)
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
    complaint = _locked(complaint)
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
    _move(complaint, Status.RESOLVED, actor=actor, now=now,
          note=f"Outcome: {Outcome(outcome).label}. Told the customer: {complaint.resolution}",
          detail={"outcome": outcome, "resolution": complaint.resolution}, internal=False)
    if detail is not None:
        _record(complaint, ComplaintAction.Kind.OUTCOME_ACTION, actor=actor, at=now, note=detail.pop("note"),
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


# --- assignment, escalation, notes ---------------------------------------------------------


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
    complaint = _locked(complaint)
    if not complaint.is_open:
        raise ValidationError({"assignee": "Only an open complaint is assigned."})
    old = complaint.assignee
    complaint.assignee = assignee  # type: ignore[assignment]
    complaint.save(update_fields=["assignee", "updated_at"])
    _record(complaint, ComplaintAction.Kind.ASSIGNED, actor=actor, at=now,
            note=f"Assigned to {assignee.get_username() if assignee else 'nobody'}.",
            detail={"from": old.get_username() if old else None, "to": assignee.get_username() if assignee else None})
    return complaint


def _escalate(
    complaint: Complaint, *, reason: str, actor: User | None, now: dt.datetime, alert: bool = True
) -> None:
    complaint.escalated_to_dpo = True
    complaint.escalated_at = now
    complaint.escalated_by = actor if actor is not None and not is_system(actor) else None  # type: ignore[assignment]
    complaint.escalation_reason = reason
    complaint.save(update_fields=["escalated_to_dpo", "escalated_at", "escalated_by", "escalation_reason",
                                  "updated_at"])
    _record(complaint, ComplaintAction.Kind.ESCALATED, actor=actor, at=now, note=reason)
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
    complaint = _locked(complaint)
    if complaint.escalated_to_dpo:
        raise ValidationError({"reason": "Already escalated."})
    _escalate(complaint, reason=reason.strip(), actor=actor, now=now or timezone.now())
    return complaint


@transaction.atomic
def complaint_add_note(
    *, complaint: Complaint, note: str, actor: User, now: dt.datetime | None = None
) -> ComplaintAction:
    """An internal note: on the timeline for staff, never shown through the API."""
    authorise(actor, PERM_INVESTIGATE, "add notes to complaints")
    if not note.strip():
        raise ValidationError({"note": "Write the note."})
    complaint = _locked(complaint)
    return _record(complaint, ComplaintAction.Kind.NOTE, actor=actor, at=now or timezone.now(), note=note.strip())


@transaction.atomic
def complaint_set_category(
    *, complaint: Complaint, category: str, actor: User, now: dt.datetime | None = None
) -> Complaint:
    """Correct the category (a WhatsApp complaint arrives as `other` or `unwanted_messages`)."""
    authorise(actor, PERM_INVESTIGATE, "recategorise complaints")
    if category not in Category.values:
        raise ValidationError({"category": "Unknown category."})
    complaint = _locked(complaint)
    old = complaint.category
    if old == category:
        return complaint
    complaint.category = category
    complaint.save(update_fields=["category", "updated_at"])
    _record(complaint, ComplaintAction.Kind.DETAILS, actor=actor, at=now or timezone.now(),
            note=f"Category {old} → {category}.", detail={"category": [old, category]})
    return complaint


@transaction.atomic
def complaint_refresh_evidence(*, complaint: Complaint, actor: User, now: dt.datetime | None = None) -> Complaint:
    """Assemble the evidence again (consent ledger, messages, earlier complaints) as of now."""
    authorise(actor, PERM_INVESTIGATE, "refresh evidence")
    now = now or timezone.now()
    complaint = _locked(complaint)
    _store_evidence(complaint, now)
    _record(complaint, ComplaintAction.Kind.EVIDENCE, actor=actor, at=now, note="Evidence assembled again.")
    return complaint


@transaction.atomic
def complaint_customer_message(
    *, complaint: Complaint, text: str, wamid: str, actor: User, at: dt.datetime | None = None
) -> Complaint:
    """The customer wrote again on WhatsApp: on the timeline, and a complaint awaiting them
    resumes (its clock too)."""
    now = at or timezone.now()
    complaint = _locked(complaint)
    _record(complaint, ComplaintAction.Kind.CUSTOMER_MESSAGE, actor=actor, at=now, note=text[:4096], internal=False,
            detail={"wamid": wamid})
    if complaint.status == Status.AWAITING_CUSTOMER:
        _move(complaint, Status.INVESTIGATING, actor=actor, now=now, note="The customer replied.")
    return complaint


# --- clocks (beat) -------------------------------------------------------------------------


@dataclass
class ClockReport:
    first_response: list[str] = field(default_factory=list)
    resolution: list[str] = field(default_factory=list)
    outer_limit: list[str] = field(default_factory=list)


def complaints_check_clocks(*, now: dt.datetime | None = None, actor: User | None = None) -> ClockReport:
    """Mark each newly breached clock, escalate the complaint and alert Compliance (beat task).
    One short transaction per complaint; a breach is marked once."""
    now = now or timezone.now()
    report = ClockReport()
    open_rows = Complaint.objects.filter(status__in=OPEN_STATUSES)
    first = open_rows.filter(
        first_responded_at__isnull=True, first_response_breached_at__isnull=True, first_response_due_at__lte=now
    ).values_list("pk", flat=True)
    for pk in list(first):
        if _breach(pk, "first_response", now, actor):
            report.first_response.append(str(pk))
    # The stored due time is the earliest the effective one can be (a running pause only adds).
    resolution = open_rows.filter(resolution_breached_at__isnull=True, resolution_due_at__lte=now)
    for pk in list(resolution.values_list("pk", flat=True)):
        if _breach(pk, "resolution", now, actor):
            report.resolution.append(str(pk))
    outer = open_rows.filter(outer_limit_breached_at__isnull=True, outer_limit_at__lte=now)
    for pk in list(outer.values_list("pk", flat=True)):
        if _breach(pk, "outer_limit", now, actor):
            report.outer_limit.append(str(pk))
    return report


BREACH_TEXT = {
    "first_response": "No first response within {hours} h of intake.",
    "resolution": "Not resolved by the resolution due time.",
    "outer_limit": "Not resolved within the statutory outer limit.",
}


@transaction.atomic
def _breach(pk: int, clock: str, now: dt.datetime, actor: User | None) -> bool:
    complaint = _locked(pk)
    if not complaint.is_open or getattr(complaint, f"{clock}_breached_at") is not None:
        return False
    if clock == "first_response" and (complaint.first_responded_at or complaint.first_response_due_at > now):
        return False
    if clock == "resolution" and resolution_due(complaint, now) > now:
        return False  # paused: the due time moved on
    if clock == "outer_limit" and complaint.outer_limit_at > now:
        return False
    setattr(complaint, f"{clock}_breached_at", now)
    complaint.save(update_fields=[f"{clock}_breached_at", "updated_at"])
    hours = int(first_response_window().total_seconds() // 3600)
    text = BREACH_TEXT[clock].format(hours=hours)
    _record(complaint, ComplaintAction.Kind.BREACH, actor=actor, at=now, note=text, detail={"clock": clock})
    alert_raise(
        kind=ALERT_STATUTORY if clock == "outer_limit" else ALERT_BREACH,
        title=f"Complaint {complaint.reference}: {clock.replace('_', ' ')} overdue",
        detail=text, dedupe_key=f"complaint-breach:{complaint.reference}:{clock}", subject=complaint,
    )
    if not complaint.escalated_to_dpo:
        _escalate(complaint, reason=f"Automatic: {text}", actor=actor, now=now, alert=False)  # alerted above
    return True


# --- WhatsApp intake words (staff) ---------------------------------------------------------


@transaction.atomic
def intake_trigger_save(*, trigger: IntakeTrigger, actor: User) -> IntakeTrigger:
    """Create or change an intake word (the admin's save): stores its normalised form."""
    authorise(actor, "complaints.change_intaketrigger" if trigger.pk else "complaints.add_intaketrigger",
               "edit the WhatsApp intake words")
    normalized = normalize_phrase(trigger.phrase)
    if not normalized:
        raise ValidationError({"phrase": "An intake word needs at least one letter."})
    if IntakeTrigger.objects.filter(normalized=normalized).exclude(pk=trigger.pk).exists():
        raise ValidationError({"phrase": "This word is already on the list."})
    trigger.normalized = normalized
    trigger.save()
    return trigger


# --- DPDP erasure (consent.hooks.privacy_erasers) -----------------------------------------


def complaints_erase(*, contact: Contact) -> int:
    """Erasure of a customer (called inside consent_erase's transaction, after the contact's
    number and ledger evidence were removed): their name and reply address go, and each
    evidence snapshot is assembled again from what remains (no number, no ledger evidence).
    The complaint, its description and timeline stay: the record that a grievance was handled
    is kept for the legal obligation (DPDP s.8(7)); the timeline is append-only anyway."""
    now = timezone.now()
    count = 0
    for complaint in Complaint.objects.select_for_update().filter(contact=contact).only(
        "pk", "customer_name", "contact_details", "evidence", "contact", "template", "message", "reference",
        "status", "channel", "category", "created_at", "outcome", "description",
    ):
        complaint.customer_name = ""
        complaint.contact_details = ""
        complaint.save(update_fields=["customer_name", "contact_details", "updated_at"])
        if complaint.evidence is not None:
            _store_evidence(complaint, now)
        _record(complaint, ComplaintAction.Kind.DETAILS, actor=None, at=now,
                note="The customer's personal data was erased at their request (name, reply address, evidence).")
        count += 1
    return count
