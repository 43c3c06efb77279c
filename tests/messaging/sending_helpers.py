"""Building blocks for the sending tests: consenting customers, usable templates, Meta webhooks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings

from consent.models import Contact
from consent.purposes import TemplateCategory
from consent.seed import seed_notices
from consent.services.optin import consent_opt_in, consent_opt_out
from consent.types import Actor
from messaging.models import Message, MessageTemplate
from pandorakart_wa.whatsapp.signature import sign
from tests.consent.factories import indian_mobile
from tests.messaging.factories import make_usable_template

ACTOR = Actor.system("test")
MARKETING_BODY = "Hi {{1}}, our Diwali sale has {{2}} off on home decor. Reply STOP to opt out."


def customer(n: int, purposes: Sequence[str] = ("order_updates", "marketing")) -> Contact:
    """A customer who opted in to `purposes` under the seeded English notice."""
    notices = {notice.language: notice for notice in seed_notices()}
    return consent_opt_in(
        phone=indian_mobile(n), purposes=list(purposes), notice=notices["en"], source="checkout", actor=ACTOR
    ).contact


def opt_out(contact: Contact, purposes: Sequence[str] | None = None) -> None:
    consent_opt_out(phone=contact.phone or "", purposes=purposes, source="account_settings", actor=ACTOR)


def utility_template(name: str = "order_shipped") -> MessageTemplate:
    return make_usable_template(name=name)


def marketing_template(name: str = "festive_offer") -> MessageTemplate:
    return make_usable_template(
        name=name, category=TemplateCategory.MARKETING, body=MARKETING_BODY, body_examples=["Priya", "40%"]
    )


def webhook(field: str, value: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": settings.WHATSAPP_WABA_ID, "changes": [{"field": field, "value": dict(value)}]}],
    }


def wamid_of(message: Message) -> str:
    """The wamid Meta gave a sent message (its status webhooks name it)."""
    assert message.wamid is not None, f"message {message.pk} has no wamid: not sent"
    return message.wamid


def status_item(wamid: str, status: str, *, callback: str | None = None, recipient: str = "919876500001",
                errors: list[dict[str, Any]] | None = None, timestamp: int | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": wamid, "status": status, "timestamp": str(timestamp or int(time.time())), "recipient_id": recipient,
    }
    if callback:
        item["biz_opaque_callback_data"] = callback
    if errors:
        item["errors"] = errors
    return item


def statuses_payload(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    metadata = {"phone_number_id": settings.WHATSAPP_PHONE_NUMBER_ID}
    return webhook("messages", {"messaging_product": "whatsapp", "metadata": metadata,
                                "statuses": list(items)})


def inbound_text(wa_id: str, text: str, wamid: str = "wamid.in.1") -> dict[str, Any]:
    return webhook(
        "messages",
        {
            "messaging_product": "whatsapp",
            "metadata": {"phone_number_id": settings.WHATSAPP_PHONE_NUMBER_ID},
            "contacts": [{"wa_id": wa_id, "profile": {"name": "Customer"}}],
            "messages": [{"from": wa_id, "id": wamid, "timestamp": str(int(time.time())), "type": "text",
                          "text": {"body": text}}],
        },
    )


def post_webhook(client: Any, payload: Mapping[str, Any]) -> Any:
    body = json.dumps(payload).encode()
    return client.post(
        "/webhooks/whatsapp", data=body, content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=sign(body, settings.WHATSAPP_APP_SECRET),
    )
