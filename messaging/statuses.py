"""Meta's status webhooks applied to messages: bulk, out-of-order tolerant, reconciling.

A status names the message by wamid and, for ours, by `biz_opaque_callback_data` (the message
id): a message left in `sending` after a timeout or a crash learns its wamid this way.
Statuses only move a message forward: a late `delivered` never undoes `read`.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from messaging.models import Message, MessageEvent, MessageStatus
from messaging.sending import apply_failure_code
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
# What applying a status reads (the rest of a message loads only if a failure listener asks).
PRICING_FIELDS = ("pricing_billable", "pricing_category", "pricing_type", "pricing_model", "priced_at")
STATUS_FIELDS = ("id", "contact_id", "template_id", "campaign_id", "purpose", "status", "wamid", "sent_at",
                 "error_code", "error_title", "not_before", "attempts", *PRICING_FIELDS)
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
        # The contact is read only for the rare failure that needs it (opt-out, undeliverable).
        rows = (
            Message.objects.select_for_update(of=("self",))
            .filter(_wamid_or_id(wamids, ids))
            .only(*STATUS_FIELDS)  # a drain applies hundreds at once: not the content, variables...
            .order_by("id")
        )
        by_wamid = {m.wamid: m for m in rows if m.wamid}
        by_id = {m.id: m for m in rows}
        changed: dict[Any, Message] = {}
        priced: dict[Any, Message] = {}
        events: list[MessageEvent] = []
        # apply in Meta's order of occurrence so a batch holding sent+delivered ends delivered
        for status in sorted(items, key=lambda s: int(s.get("timestamp") or 0)):
            callback_id = _message_id(status.get("biz_opaque_callback_data"))
            message = by_wamid.get(str(status.get("id"))) or (by_id.get(callback_id) if callback_id else None)
            if message is None:
                continue  # not ours, or sent before this service: stored raw, ignored here
            if _take_pricing(message, status.get("pricing"), received):
                priced[message.id] = message
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
            _write(list(changed.values()), events, now)
            moved = len(changed)
        if priced:
            _write_pricing(list(priced.values()))
    if failures:
        for message, code, wamid in failures:
            apply_failure_code(message, code, wamid=wamid)
    return moved


def _take_pricing(message: Message, pricing: Any, received: dt.datetime) -> bool:
    """Meta's `pricing` object on a status (billable, category, type, model) onto the message;
    True if it changed anything. Meta repeats it on each status: the last one seen wins, and
    `priced_at` keeps when the first arrived (the month it is counted in)."""
    if not isinstance(pricing, Mapping):
        return False
    billable = pricing.get("billable")
    values = {
        "pricing_billable": billable if isinstance(billable, bool) else None,
        "pricing_category": str(pricing.get("category") or "")[:32],
        "pricing_type": str(pricing.get("type") or "")[:32],
        "pricing_model": str(pricing.get("pricing_model") or "")[:16],
    }
    if all(getattr(message, name) == value for name, value in values.items()) and message.priced_at is not None:
        return False
    for name, value in values.items():
        setattr(message, name, value)
    if message.priced_at is None:
        message.priced_at = received
    return True


def _write_pricing(messages: list[Message]) -> None:
    """The batch's pricing changes: on PostgreSQL one statement fed by arrays, else the ORM."""
    if connection.vendor != "postgresql":
        Message.objects.bulk_update(messages, list(PRICING_FIELDS))
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Message._meta.db_table} AS m SET pricing_billable = v.billable, "  # noqa: S608
            "pricing_category = v.category, pricing_type = v.type, pricing_model = v.model, priced_at = v.priced_at "
            "FROM unnest(%s::uuid[], %s::boolean[], %s::text[], %s::text[], %s::text[], %s::timestamptz[]) "
            "AS v(id, billable, category, type, model, priced_at) WHERE m.id = v.id",
            [[m.id for m in messages], [m.pricing_billable for m in messages], [m.pricing_category for m in messages],
             [m.pricing_type for m in messages], [m.pricing_model for m in messages],
             [m.priced_at for m in messages]],
        )


def _wamid_or_id(wamids: set[str], ids: set[uuid.UUID]) -> Q | RawSQL:
    """Messages with one of these wamids or ids: on PostgreSQL `= ANY(array)` on each column
    (two index scans, one parameter each), elsewhere the ORM's IN lists."""
    if connection.vendor != "postgresql":
        return Q(wamid__in=wamids) | Q(id__in=ids)
    return RawSQL("(wamid = ANY(%s::text[]) OR id = ANY(%s::uuid[]))", [list(wamids), list(ids)],
                  output_field=BooleanField())


_FIELDS = ("status", "wamid", "sent_at", "error_code", "error_title", "not_before", "updated_at")


def _write(messages: list[Message], events: list[MessageEvent], now: dt.datetime) -> None:
    """The batch's message changes and events: on PostgreSQL two statements fed by arrays
    (bulk_update's CASE per field and row was half of a webhook's time), else the ORM."""
    if connection.vendor != "postgresql":
        Message.objects.bulk_update(messages, list(_FIELDS))
        MessageEvent.objects.bulk_create(events)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Message._meta.db_table} AS m SET status = v.status, wamid = v.wamid, sent_at = v.sent_at, "  # noqa: S608
            "error_code = v.error_code, error_title = v.error_title, not_before = v.not_before, updated_at = %s "
            "FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::timestamptz[], %s::int[], %s::text[], "
            "%s::timestamptz[]) AS v(id, status, wamid, sent_at, error_code, error_title, not_before) "
            "WHERE m.id = v.id",
            [now, [m.id for m in messages], [m.status for m in messages], [m.wamid for m in messages],
             [m.sent_at for m in messages], [m.error_code for m in messages], [m.error_title for m in messages],
             [m.not_before for m in messages]],
        )
        cursor.execute(
            f"INSERT INTO {MessageEvent._meta.db_table} (message_id, status, at, source, detail) "  # noqa: S608
            "SELECT m, s, a, %s, d::jsonb FROM unnest(%s::uuid[], %s::text[], %s::timestamptz[], %s::text[]) "
            "AS t(m, s, a, d)",
            [MessageEvent.Source.WEBHOOK, [e.message_id for e in events], [e.status for e in events],
             [e.at for e in events], [json.dumps(e.detail) for e in events]],
        )
