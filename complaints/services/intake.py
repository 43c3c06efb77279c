"""Taking complaints in: from the API, staff and WhatsApp, each with a reference, its clocks, its
evidence and an acknowledgement."""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from complaints.clocks import first_response_window, outer_limit_window, resolution_due, resolution_window
from complaints.models import (
    API_CHANNELS,
    DESCRIPTION_MAX_LENGTH,
    Acknowledgement,
    Category,
    Channel,
    Complaint,
    ComplaintAction,
    Status,
)
from complaints.services.common import (
    ACKNOWLEDGEMENT_LANGUAGE,
    ACKNOWLEDGEMENT_TEMPLATE,
    ACKNOWLEDGEMENT_TEXT,
    GREETING_FALLBACK,
    INDIA,
    PERM_ADD,
    PERM_INVESTIGATE,
    action_record,
    complaint_locked,
    evidence_store,
    format_reference,
    next_reference_number,
)
from complaints.services.workflow import status_move
from consent.models import Contact
from consent.selectors import contact_for_phone
from messaging.models import Message, MessageTemplate
from messaging.outbox import MessageInvalid, MessageRefused, message_accept, message_reply
from messaging.selectors import message_get
from pandorakart_wa.core.audit import API_KEY_USER_PREFIX, User
from pandorakart_wa.core.phones import InvalidPhoneNumber, normalize_phone, phone_digest
from pandorakart_wa.core.roles import authorise

logger = logging.getLogger(__name__)


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
        message = message_get(message_id=message_id)
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
    number = next_reference_number(year)
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
    action_record(
        complaint, ComplaintAction.Kind.CREATED, actor=actor, at=now, to_status=Status.RECEIVED,
        note=f"Received by {complaint.get_channel_display()}.", internal=False,
        detail={"channel": channel, "category": category, "message": str(message.pk) if message else None},
    )
    if contact is not None or template is not None:
        evidence_store(complaint, now)
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
    complaint = complaint_locked(complaint_id)
    if complaint.acknowledgement != Acknowledgement.PENDING:
        return complaint
    contact = complaint.contact
    if contact is None:
        if complaint.contact_details:
            return _owe(complaint, f"No WhatsApp contact: acknowledge by {complaint.get_channel_display()}.", now)
        complaint.acknowledgement = Acknowledgement.ANONYMOUS
        complaint.acknowledgement_detail = "Anonymous: the reference given at intake is the only receipt possible."
        complaint.save(update_fields=["acknowledgement", "acknowledgement_detail", "updated_at"])
        action_record(complaint, ComplaintAction.Kind.ACKNOWLEDGEMENT, actor=None, at=now,
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
            action_record(complaint, ComplaintAction.Kind.ACKNOWLEDGEMENT, actor=None, at=now, internal=False,
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
    action_record(complaint, ComplaintAction.Kind.ACKNOWLEDGEMENT, actor=None, at=now,
            note=f"Acknowledgement owed by {complaint.get_channel_display()}: {reason}"[:1000])
    return complaint


@transaction.atomic
def complaint_acknowledgement_owe(*, complaint_id: int, reason: str, now: dt.datetime | None = None) -> Complaint:
    complaint = complaint_locked(complaint_id)
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
    complaint = complaint_locked(complaint)
    if complaint.acknowledgement == Acknowledgement.SENT:
        raise ValidationError("The acknowledgement was already sent on WhatsApp.")
    complaint.acknowledgement = Acknowledgement.RECORDED
    complaint.acknowledgement_channel = complaint.acknowledgement_channel or complaint.channel
    complaint.save(update_fields=["acknowledgement", "acknowledgement_channel", "updated_at"])
    action_record(complaint, ComplaintAction.Kind.ACKNOWLEDGEMENT, actor=actor, at=now, note=note.strip())
    if complaint.status == Status.RECEIVED:
        status_move(complaint, Status.ACKNOWLEDGED, actor=actor, now=now, note="")
    return complaint
