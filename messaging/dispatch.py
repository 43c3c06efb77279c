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

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Sequence

from django.conf import settings
from django.utils import timezone

from messaging.inflight import in_flight
from messaging.models import Message, MessageStatus
from messaging.sending import dispatchable, messages_claim, messages_send_claimed

logger = logging.getLogger(__name__)

BROKER_DOWN_BACKOFF = 5.0  # seconds without publish attempts after one failed (the sweep sends)
DISPATCH_SLICE_SECONDS = 60.0  # a lane hands over to a fresh task after this: far below the task time limit
# A chunk's rate-limit slots span at most about this long, shared by the lanes: at 80/s and 4
# lanes a chunk is 40 messages, so a login code queued behind a campaign waits about 2 s for a
# slot, not the minutes a 500-message chunk per lane would reserve ahead of it.
SLOT_HORIZON_SECONDS = 2.0
BACKLOG_SHARE = 4  # a claim of a quarter chunk or more is a backlog: another lane joins
TIMER_HORIZON = dt.timedelta(minutes=2)  # a requeue due sooner gets a timed wake; later ones the sweep
TIMER_BUCKET_SECONDS = 0.5  # timed wakes of one process are coalesced to this grain

_broker_down_until = 0.0
_timers: set[float] = set()
_timers_lock = threading.Lock()


def dispatchers() -> int:
    return max(1, int(settings.MESSAGING_DISPATCHERS))


def dispatch_chunk_size() -> int:
    """Messages per claim: MESSAGING_SEND_CHUNK_SIZE, fewer when the rate limit would make one
    lane's chunk reserve slots far ahead (see SLOT_HORIZON_SECONDS)."""
    paced = math.ceil(float(settings.WHATSAPP_MAX_MPS) * SLOT_HORIZON_SECONDS / dispatchers())
    return max(1, min(int(settings.MESSAGING_SEND_CHUNK_SIZE), paced))


def _publish(lane: int | None) -> bool:
    """Start a dispatcher task; False (and a warning) when the broker is known or found down."""
    global _broker_down_until
    from messaging.tasks import dispatch_outbox

    if time.monotonic() < _broker_down_until:  # known down: don't make this request wait too
        return False
    try:
        dispatch_outbox.apply_async(kwargs={"lane": lane}, retry=False)
    except Exception:  # the broker is down: the rows are the outbox, the beat sweep sends them
        _broker_down_until = time.monotonic() + BROKER_DOWN_BACKOFF
        logger.warning("Broker unavailable; queued messages wait for the sweep", exc_info=True)
        return False
    return True


def outbox_wake(*, another: bool = False) -> None:
    """Queued messages were committed: make sure a dispatcher will look at them soon. Call it
    after the commit (`transaction.on_commit(outbox_wake)`), once per request, not per message.
    `another`: a lane has a backlog and asks for the next free lane to join it.

    With Redis (production) the lane is taken here and handed to the task, so nothing is
    published while it is busy. Without Redis (the run command, tests) lanes live in the worker
    process: the task is always published and takes a free lane itself, or leaves."""
    marks = in_flight()
    if not marks.exact:
        _publish(None)
        return
    if time.monotonic() < _broker_down_until:
        return
    lane = marks.lane_take_free(dispatchers()) if another else (0 if marks.lane_take(0) else None)
    if lane is not None and not _publish(lane):
        marks.lane_free(lane)  # nobody will run it: the next wake may try again


def outbox_wake_at(when: dt.datetime) -> None:
    """Wake the dispatcher when `when` comes (a retry's backoff, a pair-rate wait), unless that
    is beyond TIMER_HORIZON (the beat sweep sees it then). Coalesced per process."""
    from messaging.tasks import wake_outbox

    delay = max(0.0, (when - timezone.now()).total_seconds())
    if delay > TIMER_HORIZON.total_seconds() or time.monotonic() < _broker_down_until:
        return  # too far off (the sweep sees it), or no broker
    bucket = math.ceil((time.time() + delay) / TIMER_BUCKET_SECONDS) * TIMER_BUCKET_SECONDS
    with _timers_lock:
        now = time.time()
        _timers.difference_update([t for t in _timers if t < now])
        if bucket in _timers:
            return
        _timers.add(bucket)
    try:
        wake_outbox.apply_async(countdown=max(0.0, bucket - time.time()), retry=False)
    except Exception:
        logger.warning("Broker unavailable; a timed wake of the dispatcher is left to the sweep", exc_info=True)


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
    from messaging.campaigns import campaigns_complete_finished

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
    from messaging.tasks import dispatch_outbox

    in_flight().lane_keep(lane)
    try:
        dispatch_outbox.apply_async(kwargs={"lane": lane}, retry=False)
    except Exception:
        in_flight().lane_free(lane)
        logger.warning("Broker unavailable; the dispatcher stops until the sweep wakes it", exc_info=True)
