"""Queued messages held for their template: a paused template keeps its messages queued, not
due, until the hold is re-checked or the template released (the send-time gate holds them the
same way: messaging/sending.py)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from messaging.models import Message, MessageEvent, MessageStatus
from messaging.wake import outbox_wake

TEMPLATE_HELD = "template_held"
HOLD_RECHECK = dt.timedelta(minutes=15)  # a held message looks at its template again after this
HOLD_MAX_AGE = dt.timedelta(hours=24)  # held longer than this, a message is suppressed for good


def messages_hold_for_template(*, template_id: int) -> int:
    """Keep the template's queued messages queued but not due until the hold is re-checked."""
    now = timezone.now()
    ids = list(
        Message.objects.filter(template_id=template_id, status=MessageStatus.QUEUED).values_list("id", flat=True)
    )
    if ids:
        Message.objects.filter(id__in=ids).update(not_before=now + HOLD_RECHECK, reason=TEMPLATE_HELD, updated_at=now)
        MessageEvent.objects.bulk_create(
            [MessageEvent(message_id=mid, status=MessageStatus.QUEUED, at=now, source=MessageEvent.Source.SYSTEM,
                          detail={"held": TEMPLATE_HELD}) for mid in ids]
        )
    return len(ids)


def messages_release_for_template(*, template_id: int) -> int:
    """A released template's held messages are due again (the sweeper and campaign senders
    pick them up, and the send-time gate checks everything afresh)."""
    released = Message.objects.filter(
        template_id=template_id, status=MessageStatus.QUEUED, reason=TEMPLATE_HELD
    ).update(not_before=None, reason="", updated_at=timezone.now())
    if released:
        transaction.on_commit(outbox_wake)
    return released
