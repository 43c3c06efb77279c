"""Consent's part of Meta's webhooks, registered in pandorakart_wa.webhooks.HANDLERS.

Each handler is called as handler(value, *, event_id) for one change, inside the meta-webhook
audit actor, before the webhook POST is answered: an acknowledged opt-out is already in force.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from consent.services import consent_apply_inbound_text, consent_apply_user_preference, contact_record_inbound
from consent.types import KeywordResult

logger = logging.getLogger(__name__)

MARKETING_PREFERENCES = "marketing_messages"


def _at(timestamp: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return timezone.now()


def _user_ids(value: Mapping[str, Any]) -> dict[str, str]:
    """wa_id -> BSUID from the change's `contacts` (Meta's business-scoped user ids)."""
    found: dict[str, str] = {}
    for contact in value.get("contacts") or []:
        if isinstance(contact, Mapping) and contact.get("user_id"):
            found[str(contact.get("wa_id") or "")] = str(contact["user_id"])
    return found


def message_text(message: Mapping[str, Any]) -> str | None:
    """The words of an inbound message that could be a keyword: a text, a template quick-reply
    button ("Stop promotions") or an interactive reply; None for media and the rest."""
    kind = message.get("type")
    if kind == "text":
        return str((message.get("text") or {}).get("body") or "")
    if kind == "button":
        button = message.get("button") or {}
        return str(button.get("text") or button.get("payload") or "")
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        return str(reply.get("title") or "")
    return None


def inbound_messages(value: Mapping[str, Any], *, event_id: int) -> list[KeywordResult]:
    """`messages` change: apply consent keywords and record each sender's service window.

    Returns one KeywordResult per keyword message. NOTE for messaging (the confirmation reply,
    API.md "Each is confirmed with a reply inside the service window"): consent cannot send.
    Replace this handler in HANDLERS["messages"] by one of messaging's that calls
    `consent.webhooks.inbound_messages(value, event_id=event_id)` and, after commit, sends
    `result.reply_text` (in `result.language`) to `result.contact` for each result returned.
    """
    results: list[KeywordResult] = []
    user_ids = _user_ids(value)
    for message in value.get("messages") or []:
        if not isinstance(message, Mapping):
            continue
        wa_id = str(message.get("from") or "") or None
        user_id = str(message.get("from_user_id") or "") or user_ids.get(wa_id or "") or None
        wamid = str(message.get("id") or "")
        at = _at(message.get("timestamp"))
        if not wa_id and not user_id:
            continue
        text = message_text(message)
        if text is None:
            contact_record_inbound(wa_id=wa_id, user_id=user_id, at=at, wamid=wamid)
            continue
        result = consent_apply_inbound_text(wa_id=wa_id, user_id=user_id, text=text, wamid=wamid, at=at)
        if result is not None:
            logger.info(
                "Keyword %r from contact %s: %s %s (webhook event %s)",
                result.keyword, result.contact.pk, result.action, result.purposes, event_id,
            )
            results.append(result)
    return results


def user_preferences_changed(value: Mapping[str, Any], *, event_id: int) -> None:
    """`user_preferences` change: the customer tapped stop/resume for marketing in WhatsApp."""
    user_ids = _user_ids(value)
    for preference in value.get("user_preferences") or []:
        if not isinstance(preference, Mapping):
            continue
        if preference.get("category") not in (None, MARKETING_PREFERENCES):
            continue
        wa_id = str(preference.get("wa_id") or "") or None
        consent_apply_user_preference(
            wa_id=wa_id,
            user_id=str(preference.get("user_id") or "") or user_ids.get(wa_id or "") or None,
            value=str(preference.get("value") or ""),
            at=_at(preference.get("timestamp")),
            detail=str(preference.get("detail") or ""),
            webhook_event_id=event_id,
        )
