"""Messages that left our number without passing through this service.

Meta echoes them back: `smb_message_echoes` for messages sent from the WhatsApp Business app on
the same number (coexistence), `standby` message echoes for what Meta's business agent said
while it held the conversation. They bypassed the gate, so they are recorded as sent messages
(kind ECHO, on the customer's page like any other) and checked against consent after the fact:
a marketing message to a customer without marketing consent, or anything to a blocked or
erased customer, raises a compliance alert.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction

from consent.models import Contact
from consent.purposes import Purpose
from consent.selectors import consent_decision_for_contact
from messaging.lint import PROMOTIONAL_PATTERNS, find_terms
from messaging.models import LintTerm, Message, MessageEvent, MessageKind, MessageStatus
from messaging.selectors import template_get
from pandorakart_wa.core.timefmt import staff_time
from profile.services.alerts import alert_raise

logger = logging.getLogger(__name__)

VIA_LABELS = {"business_app": "the WhatsApp Business app", "meta_agent": "Meta's business agent"}


def looks_promotional(text: str) -> list[str]:
    """The promotional words and patterns in a free-form text (the lint's own vocabulary)."""
    terms = list(LintTerm.objects.filter(kind=LintTerm.Kind.PROMOTIONAL, active=True).values_list("term", flat=True))
    found = find_terms(text, terms)
    found += [m.group(0) for pattern in PROMOTIONAL_PATTERNS if (m := pattern.search(text or ""))]
    return found


@transaction.atomic
def message_record_echo(
    *, contact: Contact, wamid: str, at: dt.datetime, text: str, template_name: str = "", language: str = "",
    via: str = "business_app",
) -> tuple[Message, str | None]:
    """Record an echoed message as sent; returns (message, breach) where breach names the
    policy it broke (None when consent allowed it). A redelivered echo is recorded once."""
    if wamid:
        existing = Message.objects.filter(wamid=wamid).first()
        if existing is not None:
            return existing, None
    template = template_get(name=template_name, language=language or "en") if template_name else None
    promotional = looks_promotional(text) if template is None else []
    purpose = template.purpose if template is not None else (Purpose.MARKETING if promotional else Purpose.SUPPORT)
    message = Message.objects.create(
        contact=contact, purpose=purpose, template=template, language=template.language if template else "",
        text=(text or "[message]")[:4096], kind=MessageKind.ECHO, status=MessageStatus.SENT, sent_at=at,
        wamid=wamid or None, created_by=f"echo:{via}"[:200],
    )
    MessageEvent.objects.create(message=message, status=MessageStatus.SENT, at=at, source=MessageEvent.Source.WEBHOOK,
                                detail={"echo": via, **({"promotional": promotional} if promotional else {})})
    decision = consent_decision_for_contact(contact.pk, purpose)
    breach = None
    if contact.blocked or contact.erased:
        breach = "contact_erased" if contact.erased else "contact_blocked"
    elif purpose == Purpose.MARKETING and not decision.allowed:
        breach = str(decision.reason or "consent_missing")
    if breach is not None:
        who = VIA_LABELS.get(via, via)
        alert_raise(
            kind="message_bypassed_consent",
            title=f"A {purpose.replace('_', ' ')} message was sent from {who} without consent ({breach})",
            detail=(f"Message {message.pk} to {contact} at {staff_time(at)} left our number outside this "
                    f"service; the gate would have refused it ({breach}). "
                    + (f"Promotional wording: {', '.join(promotional[:5])}." if promotional else "")),
            dedupe_key=f"echo-breach:{contact.pk}:{purpose}",
            subject=message,
        )
        logger.warning("Echoed message %s to contact %s bypassed consent (%s)", message.pk, contact.pk, breach)
    return message, breach
