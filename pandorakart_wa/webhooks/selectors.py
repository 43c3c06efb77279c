"""Reads of the webhooks that the back office needs: what a customer sent us, for the customer page;
and the intake's backlog, for monitoring (pandorakart_wa.metrics).

The content of each update lives in its encrypted payload (pandorakart_wa.webhooks.models.WebhookItem);
the number is only a digest, so a customer's items are found by digest and by BSUID, the same
two keys the pipeline links them by.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Min, Q

from pandorakart_wa.webhooks.models import WebhookEvent, WebhookItem
from pandorakart_wa.whatsapp.inbound import ItemKind

INBOUND_SHOWN = 200  # the newest; the evidence pack and the privacy export carry everything
CUSTOMER_KINDS = (ItemKind.MESSAGE, ItemKind.PREFERENCE)  # what the customer did (not Meta's statuses)


@dataclass(frozen=True)
class InboundMessage:
    """One thing the customer did on WhatsApp: a message (STOP, a question, a button) or a
    marketing preference set in WhatsApp itself."""

    item_id: int
    kind: str  # "message" or "preference"
    occurred_at: dt.datetime  # Meta's timestamp (when the customer sent it)
    received_at: dt.datetime
    type: str  # text, button, interactive, image... or the preference ("stop", "resume")
    text: str  # a one-line summary for staff ("STOP", "[image] receipt", "Marketing: stop")
    wamid: str
    keyword: str  # the consent keyword it matched ("STOP"), if any
    keyword_action: str  # opt_out / opt_in / ...
    opt_out: bool
    state: str
    state_label: str
    note: str  # what applying it did ("opted out of marketing")
    standby: bool  # arrived while Meta's agent held the chat


def _summary(item: WebhookItem, data: dict[str, Any]) -> tuple[str, str]:
    if item.kind == ItemKind.PREFERENCE:
        value = str(data.get("value") or "")
        category = str(data.get("category") or "marketing_messages").replace("_", " ")
        return value, f"WhatsApp setting: {category} {value or 'changed'}"
    return str(data.get("type") or "unknown"), str(data.get("text") or "")


def inbound_messages_for(contact: Any, *, limit: int = INBOUND_SHOWN) -> list[InboundMessage]:
    """The customer's own messages and WhatsApp preference changes, newest first (at most
    `limit`), found by the number's digest or the BSUID. Erased content reads as erased."""
    keys = Q(phone_digest=contact.phone_digest) if contact.phone_digest else Q(pk__in=[])
    if contact.user_id:
        keys |= Q(user_id=contact.user_id)
    rows = (
        WebhookItem.objects.filter(keys, kind__in=[str(k) for k in CUSTOMER_KINDS])
        .order_by("-occurred_at", "-id")[:limit]
    )
    states = dict(WebhookItem.State.choices)
    result: list[InboundMessage] = []
    for item in rows:
        payload = item.data
        raw_data, raw_keyword = payload.get("data"), payload.get("keyword")
        data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
        keyword: dict[str, Any] = raw_keyword if isinstance(raw_keyword, dict) else {}
        kind_type, text = _summary(item, data)
        if payload.get("erased"):
            kind_type, text = "erased", "(content erased at the customer's request)"
        result.append(InboundMessage(
            item_id=item.pk, kind=item.kind, occurred_at=item.occurred_at, received_at=item.received_at,
            type=kind_type, text=text, wamid=str(data.get("id") or ""), keyword=str(keyword.get("phrase") or ""),
            keyword_action=str(keyword.get("action") or ""), opt_out=item.opt_out, state=item.state,
            state_label=str(states.get(item.state, item.state)), note=item.note, standby=bool(data.get("standby")),
        ))
    return result


# --- Monitoring: the intake's backlog (pandorakart_wa.metrics) ------------------------------

# Items received and not applied yet: pending, failed (to be retried), opted out (in force, the
# confirmation to follow). Dead-lettered items wait for staff instead.
WAITING_STATES = (WebhookItem.State.PENDING, WebhookItem.State.FAILED, WebhookItem.State.OPTED_OUT)


@dataclass(frozen=True)
class WebhookItemBacklog:
    """The items not applied yet or dead-lettered, by state, and when the oldest waiting one arrived."""

    by_state: dict[str, int]  # a state with no item is absent
    oldest_waiting_received_at: dt.datetime | None


def webhook_item_backlog() -> WebhookItemBacklog:
    """The waiting and dead-lettered items per state, and the oldest waiting item's arrival: two queries."""
    by_state = dict(
        WebhookItem.objects.filter(state__in=[*WAITING_STATES, WebhookItem.State.DEAD])
        .values_list("state").annotate(n=Count("id")).order_by()
    )
    oldest = WebhookItem.objects.filter(state__in=list(WAITING_STATES)).aggregate(t=Min("received_at"))["t"]
    return WebhookItemBacklog(by_state=by_state, oldest_waiting_received_at=oldest)


@dataclass(frozen=True)
class WebhookEventsUnread:
    """The webhook bodies stored and not yet read into items."""

    count: int
    oldest_received_at: dt.datetime | None


def webhook_events_unread() -> WebhookEventsUnread:
    """How many stored webhook bodies are not split into items yet, and the oldest's arrival: one aggregate."""
    unread = WebhookEvent.objects.filter(split_at__isnull=True).aggregate(n=Count("id"), t=Min("received_at"))
    return WebhookEventsUnread(count=unread["n"], oldest_received_at=unread["t"])
