"""Meta's status webhooks applied to messages: bulk, out-of-order tolerant, reconciling.

A status names the message by wamid and, for ours, by `biz_opaque_callback_data` (the message
id): a message left in `sending` after a timeout or a crash learns its wamid this way.
Statuses only move a message forward: a late `delivered` never undoes `read`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from messaging.models import Message, MessageEvent, MessageStatus
from pandorakart_wa.whatsapp import errors as wa_errors

RANK: dict[str, int] = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
}
META_STATUS = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "played": MessageStatus.READ,
    "failed": MessageStatus.FAILED,
}
FINAL = {MessageStatus.FAILED, MessageStatus.SUPPRESSED, MessageStatus.CANCELLED}
# Codes Meta reports asynchronously that mean "not delivered, may be sent again later".
REQUEUE_AFTER = {wa_errors.ECOSYSTEM_ENGAGEMENT: dt.timedelta(hours=24)}


def _message_id(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _at(timestamp: Any) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
    except (TypeError, ValueError, OverflowError):
        return timezone.now()


def messages_apply_statuses(statuses: Sequence[Mapping[str, Any]], *, event_id: int | None = None) -> int:
    """Apply a batch of `value.statuses[]`; returns how many messages moved. One read and a
    few bulk writes per batch, whatever its size."""
    items = [s for s in statuses if isinstance(s, Mapping) and s.get("status") in META_STATUS]
    if not items:
        return 0
    wamids = {str(s["id"]) for s in items if s.get("id")}
    ids = {mid for s in items if (mid := _message_id(s.get("biz_opaque_callback_data")))}
    failures: list[tuple[Message, int | None, str]] = []
    moved = 0
    received = timezone.now()
    with transaction.atomic():
        # Locked in id order, as the send worker's recording locks them (no deadlock), and only
        # the messages (of=self): the contacts stay free for consent writes.
        rows = (
            Message.objects.select_for_update(of=("self",))
            .select_related("contact")
            .filter(Q(wamid__in=wamids) | Q(id__in=ids))
            .order_by("id")
        )
        by_wamid = {m.wamid: m for m in rows if m.wamid}
        by_id = {m.id: m for m in rows}
        changed: dict[Any, Message] = {}
        events: list[MessageEvent] = []
        # apply in Meta's order of occurrence so a batch holding sent+delivered ends delivered
        for status in sorted(items, key=lambda s: int(s.get("timestamp") or 0)):
            callback_id = _message_id(status.get("biz_opaque_callback_data"))
            message = by_wamid.get(str(status.get("id"))) or (by_id.get(callback_id) if callback_id else None)
            if message is None:
                continue  # not ours, or sent before this service: stored raw, ignored here
            new = META_STATUS[status["status"]]
            at = _at(status.get("timestamp"))  # when it happened at Meta (whole seconds)
            detail: dict[str, Any] = {"wamid": status.get("id"), "meta_timestamp": at.isoformat()}
            if not message.wamid and status.get("id"):
                message.wamid = str(status["id"])  # reconciled: the send's answer was lost
                detail["reconciled"] = True
            if new == MessageStatus.FAILED:
                error = (status.get("errors") or [{}])[0]
                code = error.get("code")
                title = str(error.get("title") or error.get("message") or "")[:500]
                if message.status in FINAL:
                    continue
                if code in REQUEUE_AFTER and message.attempts < 8:
                    message.status = MessageStatus.QUEUED
                    message.not_before = timezone.now() + REQUEUE_AFTER[code]
                    detail.update(retry=code, title=title, previous_wamid=message.wamid)
                    message.wamid = None
                    new = MessageStatus.QUEUED
                else:
                    message.status = MessageStatus.FAILED
                    message.error_code, message.error_title = code, title
                    detail.update(code=code, title=title)
                    failures.append((message, code, str(status.get("id") or "")))
            else:
                if message.status in FINAL or RANK.get(new, 0) <= RANK.get(message.status, 0):
                    if detail.get("reconciled"):
                        changed[message.id] = message
                    continue
                if message.sent_at is None:
                    message.sent_at = at
                message.status = new
            changed[message.id] = message
            # `at` is when we learnt it: Meta's whole-second timestamps would sort before the
            # worker's own events of the same second.
            events.append(MessageEvent(message=message, status=new, at=received, source=MessageEvent.Source.WEBHOOK,
                                       detail=detail))
        if changed:
            now = timezone.now()
            for message in changed.values():
                message.updated_at = now
            Message.objects.bulk_update(
                list(changed.values()),
                ["status", "wamid", "sent_at", "error_code", "error_title", "not_before", "updated_at"],
            )
            MessageEvent.objects.bulk_create(events)
            moved = len(changed)
    if failures:
        from messaging.sending import apply_failure_code

        for message, code, wamid in failures:
            apply_failure_code(message, code, wamid=wamid)
    return moved
