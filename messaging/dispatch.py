"""The one dispatcher of outbound messages: the storefront's (POST /api/v1/messages and
/messages/batch), campaigns, confirmation replies and notices alike.

Writers only commit `queued` rows (the row is the outbox) and then wake the dispatcher; nothing
is enqueued per message. The dispatcher runs as up to MESSAGING_DISPATCHERS Celery tasks at once
across every worker ("lanes", messaging/inflight.py), each draining due rows in chunks with the
send pipeline (messaging/sending.py): claim with SKIP LOCKED, gate the chunk, take rate-limiter
slots, send concurrently on the pooled session, record in bulk.

Waking is one coalesced signal: one Redis call takes the first lane, and a task is published
only when it was free. When it is busy nothing is published, and nothing is lost: a lane that
finds nothing due lets go of its lane and then looks once more, so a row committed before the
wake found the lane busy is seen by that last look. More lanes join only when a lane's claims
grow large (a backlog: a campaign, a burst of batches): at the storefront's steady rates one
lane sends chunks of tens of messages, where lanes side by side would each send a few, paying
each chunk's fixed queries for fewer messages. A lane whose worker was killed lapses
(LANE_TTL_SECONDS); a wake that could not be published (broker down) leaves its rows for the
beat sweep (`send_due_messages`), which also wakes the dispatcher for rows that came due later
(quiet hours, retries beyond the timer horizon).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

from django.conf import settings
from django.utils import timezone

from messaging.campaigns import campaigns_complete_finished
from messaging.inflight import in_flight
from messaging.models import Message, MessageStatus
from messaging.sending import dispatchable, messages_claim, messages_send_claimed
from messaging.wake import DISPATCH_OUTBOX, TIMER_HORIZON, dispatchers, outbox_wake, outbox_wake_at, task

logger = logging.getLogger(__name__)

DISPATCH_SLICE_SECONDS = 60.0  # a lane hands over to a fresh task after this: far below the task time limit
# A chunk's rate-limit slots span at most about this long, shared by the lanes: at 80/s and 4
# lanes a chunk is 40 messages, so a login code queued behind a campaign waits about 2 s for a
# slot, not the minutes a 500-message chunk per lane would reserve ahead of it.
SLOT_HORIZON_SECONDS = 2.0
BACKLOG_SHARE = 4  # a claim of a quarter chunk or more is a backlog: another lane joins



def dispatch_chunk_size() -> int:
    """Messages per claim: MESSAGING_SEND_CHUNK_SIZE, fewer when the rate limit would make one
    lane's chunk reserve slots far ahead (see SLOT_HORIZON_SECONDS)."""
    paced = math.ceil(float(settings.WHATSAPP_MAX_MPS) * SLOT_HORIZON_SECONDS / dispatchers())
    return max(1, min(int(settings.MESSAGING_SEND_CHUNK_SIZE), paced))


def outbox_dispatch(*, lane: int | None) -> int:
    """One lane of the dispatcher: claim and send chunks until nothing is due; the number of
    messages handled. `lane` None: take a free one first (without Redis), or leave."""
    marks = in_flight()
    if lane is None:
        lane = marks.lane_take_free(dispatchers())
        if lane is None:
            return 0  # every lane is busy: each looks again before it stops
    started = time.monotonic()
    handled = 0
    size = dispatch_chunk_size()
    while True:
        if time.monotonic() - started > DISPATCH_SLICE_SECONDS:
            _hand_over(lane)
            return handled
        marks.lane_keep(lane)
        messages = messages_claim(limit=size)
        last = False
        if not messages:
            marks.lane_free(lane)
            messages = messages_claim(limit=size)  # look again after letting go: see the module docstring
            if not messages:
                _wake_for_next_due()
                return handled
            last = not marks.lane_take(lane)  # another task took the lane meanwhile: it goes on
        elif len(messages) >= max(1, size // BACKLOG_SHARE):
            outbox_wake(another=True)  # a backlog: another lane joins, if one is free
        messages_send_claimed(messages)
        _after_chunk(messages)
        handled += len(messages)
        if last:
            return handled


def _after_chunk(messages: Sequence[Message]) -> None:
    """A campaign whose last messages these were is completed."""
    campaign_ids = {m.campaign_id for m in messages if m.campaign_id is not None}
    if campaign_ids:
        campaigns_complete_finished(campaign_ids=campaign_ids)


def _wake_for_next_due() -> None:
    """Before a lane stops: a timed wake for the next deferred message due within TIMER_HORIZON
    (a retry's backoff, a pair-rate wait, a held message's recheck)."""
    now = timezone.now()
    next_due = (
        Message.objects.filter(status=MessageStatus.QUEUED, not_before__gt=now, not_before__lte=now + TIMER_HORIZON)
        .filter(dispatchable())
        .order_by("not_before")
        .values_list("not_before", flat=True)
        .first()
    )
    if next_due is not None:
        outbox_wake_at(next_due)


def _hand_over(lane: int) -> None:
    """Continue in a fresh task on the same lane (a long drain never meets the time limit)."""
    in_flight().lane_keep(lane)
    try:
        task(DISPATCH_OUTBOX).apply_async(kwargs={"lane": lane}, retry=False)
    except Exception:
        in_flight().lane_free(lane)
        logger.warning("Broker unavailable; the dispatcher stops until the sweep wakes it", exc_info=True)
