"""Waking the dispatcher (messaging/dispatch.py): one coalesced signal after a commit, timed wakes
for retries and pair-rate waits, and the broker-down backoff.

Every writer of the outbox wakes it (the API's intake, campaigns, the reconciler, a released
template, a restart), so this module sits below them all and below the dispatcher itself. It
names the dispatcher's Celery tasks by their names, which Celery resolves from its registry
(`task`): the tasks run the dispatcher, which imports the senders, which wake it, so an import
would be a circle. The system check messaging.E001 refuses a process in which a name is not a
registered task.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from typing import Any

from celery import current_app
from django.conf import settings
from django.core import checks
from django.utils import timezone

from messaging.inflight import in_flight

logger = logging.getLogger(__name__)

# The tasks this module and the dispatcher queue (defined in messaging/tasks.py).
DISPATCH_OUTBOX = "messaging.tasks.dispatch_outbox"
WAKE_OUTBOX = "messaging.tasks.wake_outbox"
SEND_DUE_MESSAGES = "messaging.tasks.send_due_messages"
CAMPAIGN_PREPARE = "messaging.tasks.campaign_prepare"
TASK_NAMES = (DISPATCH_OUTBOX, WAKE_OUTBOX, SEND_DUE_MESSAGES, CAMPAIGN_PREPARE)

BROKER_DOWN_BACKOFF = 5.0  # seconds without publish attempts after one failed (the sweep sends)
TIMER_HORIZON = dt.timedelta(minutes=2)  # a requeue due sooner gets a timed wake; later ones the sweep
TIMER_BUCKET_SECONDS = 0.5  # timed wakes of one process are coalesced to this grain

_broker_down_until = 0.0
_timers: set[float] = set()
_timers_lock = threading.Lock()


def task(name: str) -> Any:
    """The registered Celery task `name` (its apply_async honours eager mode, as an import would)."""
    return current_app.tasks[name]


@checks.register()
def check_task_names(**_: Any) -> list[checks.CheckMessage]:
    registered = current_app.tasks
    return [checks.Error(f"{name} is not a registered Celery task.", hint="messaging/tasks.py defines it.",
                         id="messaging.E001") for name in TASK_NAMES if name not in registered]


def dispatchers() -> int:
    return max(1, int(settings.MESSAGING_DISPATCHERS))


def _publish(lane: int | None) -> bool:
    """Start a dispatcher task; False (and a warning) when the broker is known or found down."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:  # known down: don't make this request wait too
        return False
    try:
        task(DISPATCH_OUTBOX).apply_async(kwargs={"lane": lane}, retry=False)
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
        task(WAKE_OUTBOX).apply_async(countdown=max(0.0, bucket - time.time()), retry=False)
    except Exception:
        logger.warning("Broker unavailable; a timed wake of the dispatcher is left to the sweep", exc_info=True)
