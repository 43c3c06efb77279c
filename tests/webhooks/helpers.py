"""Posting signed webhooks, and reading what the pipeline stored."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings

from pandorakart_wa.whatsapp.signature import sign

SAMPLES = Path(__file__).parent / "samples"
# Malformed as Meta published them (a missing comma): 400 is the right answer.
MALFORMED = {
    "metadocs__message_template_status_update_1", "metadocs__messageswebhook_0", "metadocs__smb_message_echoes_0",
    "metadocs__webhooks_0",
}


def post_raw(client: Any, body: bytes) -> Any:
    return client.post("/webhooks/whatsapp", data=body, content_type="application/json",
                       HTTP_X_HUB_SIGNATURE_256=sign(body, settings.WHATSAPP_APP_SECRET))


def post(client: Any, payload: Any) -> Any:
    return post_raw(client, json.dumps(payload).encode())


def envelope(field: str, value: Mapping[str, Any], *, phone_number_id: str | None = None) -> dict[str, Any]:
    value = dict(value)
    if field in ("messages", "user_preferences", "smb_message_echoes", "standby"):
        value.setdefault("messaging_product", "whatsapp")
        value.setdefault("metadata", {"display_phone_number": "919227021270",
                                      "phone_number_id": phone_number_id or settings.WHATSAPP_PHONE_NUMBER_ID})
    return {"object": "whatsapp_business_account",
            "entry": [{"id": settings.WHATSAPP_WABA_ID, "changes": [{"field": field, "value": value}]}]}


def text(wa_id: str | None, body: Any, *, wamid: str, at: int | str | None = None, user_id: str | None = None,
         name: str = "Customer") -> dict[str, Any]:
    """One inbound text message (`messages[]` item)."""
    message: dict[str, Any] = {"id": wamid, "timestamp": str(at or int(time.time())), "type": "text",
                               "text": {"body": body}}
    if wa_id is not None:
        message["from"] = wa_id
    if user_id is not None:
        message["from_user_id"] = user_id
    return message


def messages(items: Sequence[Mapping[str, Any]], *, contacts: Sequence[Mapping[str, Any]] | None = None,
             phone_number_id: str | None = None) -> dict[str, Any]:
    if contacts is None:
        contacts = [{"wa_id": m["from"], "profile": {"name": "Customer"}} for m in items if m.get("from")]
    return envelope("messages", {"contacts": list(contacts), "messages": list(items)}, phone_number_id=phone_number_id)


def rewritten(payload: Any) -> Any:
    """A published sample addressed to this service's number and account."""
    if not isinstance(payload, dict):
        return payload
    for entry in payload.get("entry") or []:
        if isinstance(entry, dict):
            entry["id"] = settings.WHATSAPP_WABA_ID
            for change in entry.get("changes") or []:
                value = change.get("value") if isinstance(change, dict) else None
                if isinstance(value, dict) and isinstance(value.get("metadata"), dict):
                    value["metadata"]["phone_number_id"] = settings.WHATSAPP_PHONE_NUMBER_ID
    return payload
