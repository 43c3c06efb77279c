"""Messaging's share of Meta's webhooks that is not a status or a message (those go through
messaging.statuses and messaging.outbox, called by pandorakart_wa.webhooks.router): Meta's
account updates, which can take away our right to send at all.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from messaging.control import sending_stop_all

logger = logging.getLogger(__name__)

# account_update events that restrict or end our ability to send: stop everything, alert staff.
STOPPING_EVENTS = {"ACCOUNT_VIOLATION", "ACCOUNT_DELETED", "ACCOUNT_OFFBOARDED"}
MESSAGING_RESTRICTIONS = {
    "RESTRICTED_BIZ_INITIATED_MESSAGING",
    "RESTRICTED_CUSTOMER_INITIATED_MESSAGING",
    "RESTRICTED_UTILITY_TEMPLATES",
    "RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES",
}


def account_update(value: Mapping[str, Any], *, event_id: int) -> None:
    event = str(value.get("event") or "")
    ban_info = value.get("ban_info")
    ban = ban_info.get("waba_ban_state") if isinstance(ban_info, Mapping) else None
    restriction_info = value.get("restriction_info")
    restrictions = {
        str(r.get("restriction_type"))
        for r in (restriction_info if isinstance(restriction_info, list) else [])
        if isinstance(r, Mapping)
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
