"""Celery tasks of the messaging app: template submission and status pull, then sending."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from messaging import campaigns
from messaging.inflight import SENDER_HEARTBEAT_SECONDS, in_flight
from messaging.models import Campaign, Message, MessageStatus, MessageTemplate
from messaging.sending import due_messages, messages_claim, messages_fail_stale_sending, messages_send_claimed
from pandorakart_wa.audit import CELERY, acting_as, system_user
from pandorakart_wa.whatsapp.errors import DeliveryUnknown, TransientError

logger = logging.getLogger(__name__)

# 60 s, 2 min, 4 min ... about 4 h in all: Meta's template endpoints allow 100 creations per hour.
SUBMIT_MAX_RETRIES = 8
SUBMIT_BACKOFF_BASE_SECONDS = 60


def submit_backoff(retries: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter, never sooner than Meta's retry_after."""
    delay = SUBMIT_BACKOFF_BASE_SECONDS * 2**retries * random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


@shared_task(bind=True, ignore_result=True, acks_late=True, max_retries=SUBMIT_MAX_RETRIES)
def template_submit_task(self: Any, template_id: int) -> str:
    """Submit a template to Meta, retrying transient errors with backoff.

    Every run first looks the template up at Meta (`reconcile`): an earlier POST that ended in
    DeliveryUnknown may have created it, and creating it twice would fail as a duplicate.
    """
    from messaging.services import template_submit_to_meta

    with acting_as(system_user(CELERY)):
        template = MessageTemplate.objects.get(pk=template_id)
        try:
            revision = template_submit_to_meta(template=template, actor=system_user(CELERY), reconcile=True)
        except ValidationError as exc:  # submitted meanwhile, or revised: nothing left to do
            logger.info("Template %s: submission retry skipped: %s", template, exc)
            return "skipped"
        except (TransientError, DeliveryUnknown) as exc:
            if self.request.retries >= self.max_retries:
                logger.error("Template %s: submission still failing after %d tries: %s", template, self.request.retries, exc)
                return "gave_up"
            countdown = submit_backoff(self.request.retries, getattr(exc, "retry_after", None))
            raise self.retry(exc=exc, countdown=countdown) from exc
    return str(revision.status)


def template_submit_later(*, template_id: int, retry_after: float | None = None) -> None:
    """Queue a submission retry once the current transaction commits (admin, command)."""
    from django.db import transaction

    countdown = submit_backoff(0, retry_after)
    transaction.on_commit(lambda: template_submit_task.apply_async(args=[template_id], countdown=countdown))


@shared_task(ignore_result=True)
def template_sync_task() -> dict[str, int]:
    """Beat: pull every template's status, quality and category from Meta."""
    from messaging.services import template_sync_from_meta

    with acting_as(system_user(CELERY)):
        try:
            report = template_sync_from_meta(actor=system_user(CELERY))
        except (TransientError, DeliveryUnknown) as exc:
            logger.warning("Template sync skipped, Meta unavailable: %s", exc)  # the next beat run retries
            return {"error": 1}
    return {"seen": report.seen, "updated": report.updated, "unknown": report.unknown}


# --- Sending (issue 5) ---------------------------------------------------------------------

SWEEP_GRACE = dt.timedelta(seconds=30)  # a queued row older than this has lost its task
SWEEP_TIME_BUDGET = 50.0  # seconds: the sweeper yields to the next beat run after this
CAMPAIGN_IDLE_RECHECK = 5.0  # seconds before a campaign sender looks again at deferred messages
CAMPAIGN_SLICE_SECONDS = 60.0  # a sender's working slice; far below CELERY_TASK_SOFT_TIME_LIMIT


@shared_task(ignore_result=True, acks_late=True)
def send_message(message_id: str) -> None:
    """Send one message (API path). A second delivery of this task finds nothing to claim."""
    with acting_as(system_user(CELERY)):
        messages = messages_claim(ids=[message_id], limit=1)
        if not messages:
            return
        outcome = messages_send_claimed(messages)
        for mid, (when, _) in outcome.requeue.items():
            send_message.apply_async(args=[str(mid)], eta=when)


@shared_task(ignore_result=True, acks_late=True)
def campaign_prepare(campaign_id: int) -> None:
    with acting_as(system_user(CELERY)):
        campaigns.campaign_prepare(campaign_id=campaign_id)


@shared_task(ignore_result=True, acks_late=True)
def campaign_send(campaign_id: int) -> None:
    """One of the campaign's parallel senders: claim and send chunks until nothing is due.

    Works in slices well inside the task time limit, then hands over to a fresh task, so a long
    campaign at a low rate never has a chunk killed mid-send by the time limit.
    """
    started = time.monotonic()
    with acting_as(system_user(CELERY)):
        while True:
            status = Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()
            if status != Campaign.Status.RUNNING:
                return
            if time.monotonic() - started > CAMPAIGN_SLICE_SECONDS:
                campaign_send.delay(campaign_id)
                return
            in_flight().sender_beat(campaign_id)
            messages = messages_claim(campaign_id=campaign_id, limit=settings.MESSAGING_SEND_CHUNK_SIZE)
            if not messages:
                break
            messages_send_claimed(messages)
        if campaigns.campaign_finish_if_done(campaign_id=campaign_id):
            return
        # deferred messages (quiet hours, retries, pair rate) remain: look again when the first is due
        next_due = (
            Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.QUEUED)
            .order_by("not_before")
            .values_list("not_before", flat=True)
            .first()
        )
        queued = Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.QUEUED)
        if next_due is not None or queued.exists():
            eta = max(next_due or timezone.now(), timezone.now() + dt.timedelta(seconds=CAMPAIGN_IDLE_RECHECK))
            campaign_send.apply_async(args=[campaign_id], eta=eta)


def campaigns_relaunch_lost_senders() -> list[int]:
    """Running campaigns with due messages and no live sender (its worker was killed: the
    broker gives unacknowledged tasks back only after its visibility timeout) get fresh ones.
    A sender that was only slow joins the new ones; claims are atomic, so nothing is sent twice."""
    marks = in_flight()
    now = timezone.now()
    relaunched = []
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.RUNNING).values_list("id", flat=True):
        if marks.sender_alive(campaign_id):
            continue
        if not marks.exact and Message.objects.filter(
            campaign_id=campaign_id, claimed_at__gte=now - dt.timedelta(seconds=SENDER_HEARTBEAT_SECONDS)
        ).exists():
            continue  # without Redis the heartbeat is per process: a recent claim shows a sender
        if not Message.objects.filter(due_messages(now), campaign_id=campaign_id).exists():
            continue
        marks.sender_beat(campaign_id)  # the next sweep does not relaunch them again
        logger.warning("Campaign %s had due messages and no live sender: senders relaunched", campaign_id)
        campaigns._launch_senders(campaign_id)
        relaunched.append(campaign_id)
    return relaunched


@shared_task(ignore_result=True)
def send_due_messages() -> int:
    """Beat: send queued messages whose task was lost (broker down at commit, worker crash
    before the claim, retries whose task expired), and relaunch the senders of campaigns whose
    worker died. Claims are atomic: never a double send."""
    started = time.monotonic()
    sent = 0
    with acting_as(system_user(CELERY)):
        campaigns_relaunch_lost_senders()
        while time.monotonic() - started < SWEEP_TIME_BUDGET:
            messages = messages_claim(
                limit=settings.MESSAGING_SEND_CHUNK_SIZE, older_than=SWEEP_GRACE, exclude_running_campaigns=True
            )
            if not messages:
                break
            messages_send_claimed(messages)
            sent += len(messages)
    return sent


@shared_task(ignore_result=True)
def reconcile_stale_sending() -> int:
    """Beat: a message left in `sending` longer than the reconcile window got no status from
    Meta; it is marked failed (delivery unknown) for staff, never re-sent blindly."""
    with acting_as(system_user(CELERY)):
        return messages_fail_stale_sending()
