"""Messaging's share of Meta's webhooks (routed by pandorakart_wa.webhooks.HANDLERS).

`messages` changes carry both the statuses of our messages and the customers' inbound
messages. Inbound keywords go to consent first (an opt-out is in force before the webhook is
answered), then the confirmation reply is queued inside the service window.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from consent.types import KeywordResult
from consent.webhooks import inbound_messages as consent_inbound_messages
from messaging.control import sending_stop_all
from messaging.outbox import message_reply
from messaging.statuses import messages_apply_statuses

logger = logging.getLogger(__name__)

# account_update events that restrict or end our ability to send: stop everything, alert staff.
STOPPING_EVENTS = {"ACCOUNT_VIOLATION", "ACCOUNT_DELETED", "ACCOUNT_OFFBOARDED"}
MESSAGING_RESTRICTIONS = {
    "RESTRICTED_BIZ_INITIATED_MESSAGING",
    "RESTRICTED_CUSTOMER_INITIATED_MESSAGING",
    "RESTRICTED_UTILITY_TEMPLATES",
    "RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES",
}


def messages_changed(value: Mapping[str, Any], *, event_id: int) -> list[KeywordResult]:
    statuses = value.get("statuses") or []
    if statuses:
        messages_apply_statuses(statuses, event_id=event_id)
    results: list[KeywordResult] = []
    if value.get("messages"):
        results = consent_inbound_messages(value, event_id=event_id)
        for result in results:
            if result.reply_text:
                message_reply(contact=result.contact, text=result.reply_text)
    for error in value.get("errors") or []:
        logger.error("Meta reported a system-level error in webhook event %s: %s", event_id, error)
    return results


def account_update(value: Mapping[str, Any], *, event_id: int) -> None:
    event = str(value.get("event") or "")
    ban = (value.get("ban_info") or {}).get("waba_ban_state")
    restrictions = {
        str(r.get("restriction_type")) for r in value.get("restriction_info") or [] if isinstance(r, Mapping)
    }
    if (
        event in STOPPING_EVENTS
        or (event == "ACCOUNT_RESTRICTION" and restrictions & MESSAGING_RESTRICTIONS)
        or (event == "DISABLED_UPDATE" and ban in ("DISABLE", "SCHEDULE_FOR_DISABLE"))
    ):
        details = value.get("restriction_info") or value.get("violation_info") or value.get("ban_info") or {}
        sending_stop_all(reason=f"Meta account_update {event}: {details}", source="meta")
    else:
        logger.info("account_update %s (webhook event %s) needs no action", event, event_id)
