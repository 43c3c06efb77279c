"""Accepting messages: the outbox row is written (and gated) before anything is sent."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from consent.models import Contact
from consent.purposes import Purpose
from consent.selectors import contact_for_phone
from messaging.dispatch import outbox_wake
from messaging.gate import gate
from messaging.models import Message, MessageEvent, MessageKind, MessageStatus, MessageTemplate
from messaging.selectors import template_get, template_send_variable_count
from pandorakart_wa.models import StorefrontApiKey
from pandorakart_wa.phones import InvalidPhoneNumber, normalize_phone

logger = logging.getLogger(__name__)

TEXT_MAX_LENGTH = 4096  # Meta: a text message body is at most 4096 characters


class MessageRefused(Exception):
    """Policy forbids the message (API.md 422); nothing was queued."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different body (API.md 409)."""


class MessageInvalid(Exception):
    """A field is wrong (API.md 400): `fields` names each one."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class Accepted:
    message: Message
    replayed: bool  # the same Idempotency-Key and body were accepted before


REFUSAL_DETAILS = {
    "consent_missing": "The customer has not consented to messages for this purpose.",
    "opted_out": "The customer opted out of messages for this purpose.",
    "contact_blocked": "The customer is blocked.",
    "contact_erased": "The customer's data was erased at their request.",
    "contact_undeliverable": "Meta reported this number as not reachable on WhatsApp.",
    "template_not_approved": "The template is not approved internally and by Meta.",
    "template_paused": "The template is paused, disabled or of low quality.",
    "frequency_capped": "The customer already received the most marketing messages allowed for now.",
    "outside_service_window": "Free-form text is only allowed within 24 hours of the customer's last message.",
}


def request_digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _replay(api_key: StorefrontApiKey | None, key: str, digest: str) -> Message | None:
    if not key:
        return None
    existing = Message.objects.filter(api_key=api_key, idempotency_key=key).first()
    if existing is None:
        return None
    if existing.request_sha256 != digest:
        raise IdempotencyConflict("This Idempotency-Key was used with a different request body.")
    return existing


def message_accept(
    *,
    to: str,
    template: str | None = None,
    language: str = "en",
    variables: Sequence[str] = (),
    text: str | None = None,
    idempotency_key: str = "",
    api_key: StorefrontApiKey | None = None,
    created_by: str = "",
    body: dict[str, Any] | None = None,
) -> Accepted:
    """Validate, gate and queue one message; the send is enqueued after commit.

    Raises MessageInvalid (400), MessageRefused (422) or IdempotencyConflict (409); nothing is
    written in any of those cases.
    """
    digest = request_digest(body if body is not None else {"to": to, "template": template, "language": language,
                                                            "variables": list(variables), "text": text})
    replayed = _replay(api_key, idempotency_key, digest)
    if replayed is not None:
        return Accepted(replayed, True)

    fields: dict[str, str] = {}
    try:
        phone = normalize_phone(to)
    except InvalidPhoneNumber as exc:
        fields["to"] = str(exc)
        phone = ""
    tmpl: MessageTemplate | None = None
    if template is not None:
        tmpl = template_get(name=template, language=language)
        if tmpl is None:
            fields["template"] = f"No template {template!r} in language {language!r}."
        elif (expected := template_send_variable_count(tmpl)) != len(variables):
            fields["variables"] = f"The template needs {expected} variables; {len(variables)} were given."
        elif any(not str(v).strip() for v in variables):
            fields["variables"] = "Variables may not be empty."
    elif not text or not text.strip():
        fields["text"] = "Give either a template or a text."
    elif len(text) > TEXT_MAX_LENGTH:
        fields["text"] = f"A text is at most {TEXT_MAX_LENGTH} characters."
    if fields:
        raise MessageInvalid(fields)

    purpose = tmpl.purpose if tmpl is not None else Purpose.SUPPORT
    contact = contact_for_phone(phone)
    if contact is None:
        raise MessageRefused("consent_missing", REFUSAL_DETAILS["consent_missing"])
    now = timezone.now()
    decision = gate(purpose=purpose, contact_ids=[contact.pk], template=tmpl, now=now)[contact.pk]
    if not decision.allowed:
        code = str(decision.code)
        raise MessageRefused(code, REFUSAL_DETAILS.get(code, "Policy forbids this message."))

    try:
        with transaction.atomic():
            message = Message.objects.create(
                contact=contact,
                purpose=purpose,
                template=tmpl,
                revision=tmpl.approved_revision if tmpl is not None else None,
                language=tmpl.language if tmpl is not None else "",
                variables=[str(v) for v in variables],
                text=text or "",
                not_before=decision.defer_until,
                reason=decision.code or "",
                api_key=api_key,
                idempotency_key=idempotency_key,
                request_sha256=digest,
                created_by=created_by[:200],
            )
            MessageEvent.objects.create(
                message=message, status=MessageStatus.QUEUED, at=now, source=MessageEvent.Source.API,
                detail={"deferred_until": decision.defer_until.isoformat()} if decision.defer_until else {},
            )
            if decision.defer_until is None:  # deferred ones: the beat sweep wakes the dispatcher then
                transaction.on_commit(outbox_wake)
    except IntegrityError:
        # a concurrent request with the same Idempotency-Key won the insert
        replayed = _replay(api_key, idempotency_key, digest)
        if replayed is None:
            raise
        return Accepted(replayed, True)
    return Accepted(message, False)


def message_reply(*, contact: Contact, text: str, reply_to_wamid: str = "") -> Message | None:
    """Queue a confirmation of the customer's own request (an opt-out, START, a complaint) as a
    free-form reply inside the service window. None when the window is closed or the contact is
    erased: the confirmation is then owed through another channel."""
    now = timezone.now()
    decision = gate(purpose=Purpose.SUPPORT, contact_ids=[contact.pk], template=None, now=now,
                    kind=MessageKind.CONFIRMATION)[contact.pk]
    if not decision.allowed:
        return None
    with transaction.atomic():
        message = Message.objects.create(
            contact=contact,
            purpose=Purpose.SUPPORT,
            kind=MessageKind.CONFIRMATION,
            text=text[:TEXT_MAX_LENGTH],
            reply_to_wamid=reply_to_wamid,
            created_by="system:confirmation",
        )
        MessageEvent.objects.create(message=message, status=MessageStatus.QUEUED, at=now, source=MessageEvent.Source.SYSTEM)
        transaction.on_commit(outbox_wake)
    return message
