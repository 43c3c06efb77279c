"""The workers' side of the inbound pipeline: apply every stored item not applied yet.

Each web process asks a worker at most every DRAIN_GATHER_SECONDS (no I/O for the webhooks in
between); the drain waits that long before it looks, so nothing stored before it looked is left
behind, and beat sweeps every few seconds whatever happens to the broker. Drains take turns on
an advisory lock and look again after letting go.

Order: opt-outs first (one the request's budget left), then Meta's own order (occurred_at).
Statuses of our messages, most of Meta's traffic, are applied in batches (one bulk read and
write per few hundred); every other item in its own transaction (router.item_apply). A status
batch that fails is applied item by item, so the failure lands on the item that caused it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from pandorakart_wa.core.audit import META_WEBHOOK, acting_as, system_user
from pandorakart_wa.core.tasks import shared_task
from pandorakart_wa.webhooks.intake import split_event
from pandorakart_wa.webhooks.models import WebhookEvent, WebhookItem
from pandorakart_wa.webhooks.optouts import apply_due_opt_outs_together, finish_opted_out
from pandorakart_wa.webhooks.router import OPEN_STATES, Outcome, apply_statuses, item_apply, items_finish
from pandorakart_wa.whatsapp.inbound import ItemKind

logger = logging.getLogger(__name__)

STATUS_BATCH = 500  # statuses applied per transaction
OPT_OUT_BATCH = 250  # due opt-outs looked up at once (applied together, webhooks.optouts)
ITEM_BATCH = 25  # other items per pass, each in its own transaction (then opt-outs are looked for again)
DRAIN_GATHER_SECONDS = 0.2  # a drain lets items gather this long; each process asks at most this often
DRAIN_LOCK_KEY = 0x5741_5748  # "WAWH": PostgreSQL advisory lock of the drain
SPLIT_GRACE = timedelta(seconds=5)  # an event unread this long was left by a crash (the sweep reads it)
SPLIT_MAX_ATTEMPTS = 20
# One drain task applies for at most this long, then hands over to a new one (well inside
# CELERY_TASK_SOFT_TIME_LIMIT: a task killed at its limit would leave the backlog to beat).
DRAIN_MAX_SECONDS = 120.0


def _due() -> Q:
    """Items to apply now: pending, or failed and due for their retry."""
    return Q(state=WebhookItem.State.PENDING) | Q(state=WebhookItem.State.FAILED, next_attempt_at__lte=timezone.now())


_drain_requested_at = float("-inf")  # time.monotonic() of this process's last request


def request_drain() -> None:
    """Ask a worker to apply the stored items: at most once per DRAIN_GATHER_SECONDS from each
    process. Nothing is left behind: an item that asks no one was stored less than
    DRAIN_GATHER_SECONDS after this process's last request, and the drain that request started
    waits that long before it looks. A broker that is down loses nothing either: the items stay
    stored, the next webhook asks again, and beat sweeps."""
    global _drain_requested_at
    now = time.monotonic()
    if now - _drain_requested_at < DRAIN_GATHER_SECONDS:
        return
    _drain_requested_at = now
    if not _ask(gather=True, failing="Could not ask a worker to apply stored webhooks; beat's sweep will"):
        _drain_requested_at = float("-inf")


def _ask(*, gather: bool, failing: str) -> bool:
    """Queue a drain (apply_deferred_webhooks); False, logged, when the broker refused it."""
    try:
        apply_deferred_webhooks.apply_async(kwargs={} if gather else {"gather": False}, retry=False)
    except Exception:
        logger.warning(failing, exc_info=True)
        return False
    return True


def webhooks_drain(*, gather: bool = True) -> int:
    """The worker's side of request_drain (and beat's sweep): wait for the webhooks that follow,
    read any event a crash left unread, then apply everything due. One drain at a time: the
    others leave at once, and the one that drained looks again after it let go."""
    if gather and DRAIN_GATHER_SECONDS:
        time.sleep(DRAIN_GATHER_SECONDS)
    applied = 0
    deadline = time.monotonic() + DRAIN_MAX_SECONDS
    while _drain_lock(take=True):
        try:
            webhooks_split_unread()
            applied += webhooks_apply_pending(deadline=deadline)
        finally:
            _drain_lock(take=False)
        if not WebhookItem.objects.filter(_due() | Q(state=WebhookItem.State.OPTED_OUT)).exists():
            break
        if time.monotonic() > deadline:
            # A backlog longer than one task may run (CELERY_TASK_SOFT_TIME_LIMIT): hand it to
            # a fresh task rather than be killed mid-item with the broker asked by no one.
            logger.info("Webhook drain ran %.0f s with items still due; a new drain takes over", DRAIN_MAX_SECONDS)
            _ask(gather=False, failing="Could not hand the webhook backlog to a new drain; beat's sweep will")
            break
    return applied


def _drain_lock(*, take: bool) -> bool:
    """Take (without waiting) or give back the drain's session lock; True off PostgreSQL."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)" if take else "SELECT pg_advisory_unlock(%s)", [DRAIN_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def webhooks_split_unread() -> int:
    """Read the events a crash (or a reading bug, since fixed) left stored but unread."""
    events = list(
        WebhookEvent.objects.filter(
            split_at__isnull=True, received_at__lte=timezone.now() - SPLIT_GRACE, split_attempts__lt=SPLIT_MAX_ATTEMPTS,
            body_token__isnull=False,
        ).order_by("id").only("pk", "received_at", "split_attempts")[:100]
    )
    for event in events:
        problem = split_event(event)
        if problem and event.split_at is None:
            logger.warning("Webhook event %s still unread: %s", event.pk, problem)
    return len(events)


def webhooks_apply_pending(*, event_ids: Sequence[int] | None = None, deadline: float | None = None) -> int:
    """Apply every due item (of these events only, when given): statuses in batches, the rest
    one by one, opt-outs first then Meta's order; until `deadline` (time.monotonic()) when
    given. Returns how many were applied."""
    scope = Q(event_id__in=list(event_ids)) if event_ids is not None else Q()
    applied = 0
    while deadline is None or time.monotonic() < deadline:
        touched: set[int] = set()
        finished, events = finish_opted_out(scope, limit=OPT_OUT_BATCH)
        touched.update(events)
        statuses = _apply_status_batch(scope, touched) + finished
        others = _apply_others(scope, touched)
        applied += statuses + others
        _mark_finished(touched)
        if not statuses and not others:
            break
    return applied


def _apply_status_batch(scope: Q, touched: set[int]) -> int:
    """Up to STATUS_BATCH due status items in one transaction; item by item when that fails."""
    with transaction.atomic():
        items = list(
            WebhookItem.objects.select_for_update(skip_locked=True)
            .filter(scope, _due(), kind=ItemKind.STATUS, opt_out=False, in_scope=True)
            .order_by("occurred_at", "id")[:STATUS_BATCH]
        )
        if not items:
            return 0
        touched.update(item.event_id for item in items)
        try:
            with transaction.atomic(), acting_as(system_user(META_WEBHOOK)):
                apply_statuses([item.data for item in items])
        except Exception:
            logger.exception("Applying %s statuses together failed; applying them one by one", len(items))
            failed_together = True
        else:
            items_finish(items, Outcome(WebhookItem.State.APPLIED, "status applied"))
            failed_together = False
    if failed_together:
        for item in items:
            item_apply(item.pk)
    return len(items)


def _apply_others(scope: Q, touched: set[int]) -> int:
    """Due opt-outs first, together (webhooks.optouts), then a few other items one by one: a
    pass is short, so an opt-out stored while the drain works through a backlog of texts waits
    for the items of one pass at most, not for the whole backlog."""
    done, left, events = apply_due_opt_outs_together(scope & _due() & Q(opt_out=True), limit=OPT_OUT_BATCH)
    rest = list(
        WebhookItem.objects.filter(scope, _due(), opt_out=False).exclude(kind=ItemKind.STATUS, in_scope=True)
        .order_by("occurred_at", "id")
        .values_list("pk", "event_id")[:ITEM_BATCH]
    )
    touched.update(events, (event_id for _, event_id in rest))
    for item_id in [*left, *(pk for pk, _ in rest)]:
        if item_apply(item_id) is not None:
            done += 1
    return done


def _mark_finished(event_ids: set[int]) -> None:
    """These events are processed once every item of theirs reached a final state."""
    if not event_ids:
        return
    open_items = WebhookItem.objects.filter(event_id=OuterRef("pk"),
                                            state__in=[*OPEN_STATES, WebhookItem.State.OPTED_OUT])
    WebhookEvent.objects.filter(pk__in=list(event_ids), processed_at__isnull=True, split_at__isnull=False).exclude(
        Exists(open_items)
    ).update(processed_at=timezone.now())


@shared_task(name="pandorakart_wa.tasks.apply_deferred_webhooks", ignore_result=True)
def apply_deferred_webhooks(gather: bool = True) -> int:
    """Apply the stored webhook items not applied yet (asked for after each webhook's commit;
    beat sweeps too, which also reads any event a crash left unread; a drain that ran its time
    asks for the next with gather=False). The task lives beside the drain that queues it; its
    name is the one beat and queued messages already use."""
    return webhooks_drain(gather=gather)
