"""Staff and operator actions on stored webhooks: replay, and the customer's privacy rights."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from pandorakart_wa.core.api.fields import utc_iso
from pandorakart_wa.core.audit import acting_as
from pandorakart_wa.webhooks.drain import webhooks_apply_pending
from pandorakart_wa.webhooks.intake import REDACTED, split_event
from pandorakart_wa.webhooks.models import WebhookEvent, WebhookItem
from pandorakart_wa.webhooks.router import item_apply

logger = logging.getLogger(__name__)

State = WebhookItem.State


@dataclass(frozen=True)
class ReplayReport:
    read: int = 0  # events read into items (they had been left unread)
    replayed: int = 0
    applied: int = 0
    still_failing: int = 0
    redacted: tuple[str, ...] = ()  # one line per asked-for event whose raw body was redacted


def webhooks_replay(
    *, item_ids: Iterable[int] | None = None, event_ids: Iterable[int] | None = None, include_failed: bool = False,
    since: datetime | None = None, actor: Any = None,
) -> ReplayReport:
    """Apply dead-lettered items again (and failed ones now, with `include_failed`): the
    admin's "Replay" action and `manage.py replay_webhooks`. Events left unread are read
    first. Each item is applied in its own transaction, as the first time; one already
    applied is never applied again."""
    read = 0
    redacted: list[str] = []
    if event_ids is not None:
        for event in WebhookEvent.objects.filter(pk__in=list(event_ids), redacted_at__isnull=False).order_by("pk"):
            redacted.append(_redacted_note(event))
        for event in WebhookEvent.objects.filter(pk__in=list(event_ids), split_at__isnull=True):
            if split_event(event) != REDACTED:
                read += 1
    states = [State.DEAD, State.FAILED] if include_failed or event_ids is not None else [State.DEAD]
    items = WebhookItem.objects.filter(state__in=[*states, State.PENDING] if event_ids is not None else states)
    if item_ids is not None:
        items = items.filter(pk__in=list(item_ids))
    if event_ids is not None:
        items = items.filter(event_id__in=list(event_ids))
    if since is not None:
        items = items.filter(received_at__gte=since)
    ids = list(items.order_by("-opt_out", "occurred_at", "id").values_list("pk", flat=True))
    applied = failing = 0
    for item_id in ids:
        with transaction.atomic():
            item = WebhookItem.objects.select_for_update().get(pk=item_id)
            item.attempts = 0
            item.note = f"replayed by {getattr(actor, 'username', None) or 'an operator'}"[:200]
            if actor is not None:
                with acting_as(actor):
                    item.save(update_fields=["attempts", "note"])
            else:
                item.save(update_fields=["attempts", "note"])
        state = item_apply(item_id, force=True)
        if state in (State.APPLIED, State.SKIPPED):
            applied += 1
        else:
            failing += 1
    if ids:
        webhooks_apply_pending(event_ids=list({*WebhookItem.objects.filter(pk__in=ids).values_list("event_id", flat=True)}))
    logger.info("Webhook replay: %s read, %s replayed, %s applied, %s still failing", read, len(ids), applied, failing)
    return ReplayReport(read=read, replayed=len(ids), applied=applied, still_failing=failing, redacted=tuple(redacted))


def _redacted_note(event: WebhookEvent) -> str:
    """What replaying a redacted event can still do: its parsed items carry their own copy of
    each update; an event redacted before it was read has nothing left to read."""
    when = f"{event.redacted_at:%Y-%m-%d %H:%M} UTC" if event.redacted_at else "earlier"
    if event.split_at is None:
        return (f"event {event.pk}: its raw body was redacted on {when} before it was read into items; "
                "there is nothing left to replay")
    return (f"event {event.pk}: its raw body was redacted on {when} (retention or erasure); "
            f"its {event.item_count} parsed item(s) are replayed from their own copies")


def _contact_items(contact: Any) -> Any:
    keys = Q(phone_digest=contact.phone_digest) if contact.phone_digest else Q(pk__in=[])
    if contact.user_id:
        keys |= Q(user_id=contact.user_id)
    return WebhookItem.objects.filter(keys)


def webhooks_export(*, contact: Any) -> list[dict[str, Any]]:
    """What the webhooks hold about a customer (DPDP access): their messages to us and Meta's
    updates about them, in Meta's order."""
    exported = []
    for item in _contact_items(contact).order_by("occurred_at", "id"):
        data = item.data.get("data") or {}
        exported.append({
            "kind": item.kind, "occurred_at": utc_iso(item.occurred_at), "received_at": utc_iso(item.received_at),
            "type": data.get("type") or data.get("status") or data.get("value") or "", "text": data.get("text") or "",
            "state": item.state,
        })
    return exported


def webhooks_erase(*, contact: Any) -> None:
    """DPDP erasure: the customer's updates keep their digest, kind and dates (the record that
    something was received and applied) and lose their content; the raw bodies that carried them
    are redacted (they hold the number and the texts)."""
    items = _contact_items(contact)
    event_ids = set(items.values_list("event_id", flat=True))
    empty = json.dumps({"erased": True})
    for item in items.only("pk"):
        item.payload = empty
        item.user_id = ""
        item.save(update_fields=["payload", "user_id"])
    WebhookEvent.objects.filter(pk__in=event_ids, body_token__isnull=False).update(
        body_token=None, redacted_at=timezone.now()
    )
