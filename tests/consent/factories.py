"""factory_boy factories for consent."""

from __future__ import annotations

import factory
from django.utils import timezone

from consent.models import ConsentNotice, Contact
from pandorakart_wa.core.phones import phone_digest
from tests.factories import ModelFactory


def indian_mobile(n: int) -> str:
    """A valid Indian mobile number in E.164, distinct for each n < 100000."""
    return f"+9198765{n:05d}"


class ContactFactory(ModelFactory[Contact]):
    class Meta:
        model = Contact

    phone = factory.Sequence(indian_mobile)
    phone_digest = factory.LazyAttribute(lambda o: phone_digest(o.phone))


class NoticeFactory(ModelFactory[ConsentNotice]):
    """A published notice (its content digest is computed the way notice_publish does)."""

    class Meta:
        model = ConsentNotice

    version = factory.Sequence(lambda n: f"2026-10-{n:02d}-en")
    language = "en"
    title = "WhatsApp messages from PANDORAKART"
    text = "PANDORAKART would like to send you WhatsApp messages about your orders and offers."
    items = factory.LazyFunction(lambda: [{"data": "Mobile number", "purposes": ["marketing", "order_updates"]}])
    purposes = factory.LazyFunction(lambda: ["marketing", "order_updates"])
    withdrawal_instructions = "Reply STOP."
    complaint_instructions = "support@pandorakart.com, then the Data Protection Board of India."
    business_name = "PANDORAKART"
    business_contact = "support@pandorakart.com"
    text_sha256 = "0" * 64
    published_at = factory.LazyFunction(timezone.now)
