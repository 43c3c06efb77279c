"""Celery tasks of the messaging app: template submission and status pull, then sending."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from messaging import campaigns
from messaging.dispatch import outbox_dispatch
from messaging.models import Message, MessageTemplate
from messaging.sending import dispatchable, due_messages, messages_fail_stale_sending
from messaging.services.meta_updates import template_sync_from_meta, templates_apply_scheduled_categories
from messaging.services.submission import template_submit_to_meta
from messaging.wake import outbox_wake
from pandorakart_wa.core.audit import CELERY, acting_as, system_user
from pandorakart_wa.core.backoff import backoff
from pandorakart_wa.core.tasks import shared_task
from pandorakart_wa.whatsapp.errors import DeliveryUnknown, TransientError

logger = logging.getLogger(__name__)

# 60 s, 2 min, 4 min ... about 4 h in all: Meta's template endpoints allow 100 creations per hour.
SUBMIT_MAX_RETRIES = 8
SUBMIT_BACKOFF_BASE_SECONDS = 60


def submit_backoff(retries: int, retry_after: float | None) -> float:
    return backoff(retries, base=SUBMIT_BACKOFF_BASE_SECONDS, retry_after=retry_after)


@shared_task(bind=True, ignore_result=True, acks_late=True, max_retries=SUBMIT_MAX_RETRIES)
def template_submit_task(self: Any, template_id: int) -> str:
    """Submit a template to Meta, retrying transient errors with backoff.

    Every run first looks the template up at Meta (`reconcile`): an earlier POST that ended in
    DeliveryUnknown may have created it, and creating it twice would fail as a duplicate.
    """

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

    with acting_as(system_user(CELERY)):
        try:
            report = template_sync_from_meta(actor=system_user(CELERY))
        except (TransientError, DeliveryUnknown) as exc:
            logger.warning("Template sync skipped, Meta unavailable: %s", exc)  # the next beat run retries
            return {"error": 1}
    return {"seen": report.seen, "updated": report.updated, "unknown": report.unknown}


# --- Sending -----------------------------------------------------------------------------------
# Every outbound message is sent by the dispatcher (messaging/dispatch.py): no task per message.


@shared_task(ignore_result=True, acks_late=False)
def dispatch_outbox(lane: int | None = None) -> int:
    """One lane of the dispatcher: drain due messages in chunks. Acknowledged on receipt: a
    lane whose worker was killed lapses and is woken again (a redelivery an hour later, after
    the broker's visibility timeout, would only be a late duplicate)."""
    with acting_as(system_user(CELERY)):
        return outbox_dispatch(lane=lane)


@shared_task(ignore_result=True, acks_late=False)
def wake_outbox() -> None:
    """A timed wake (a retry's backoff ended): start a lane if one is free."""
    outbox_wake()


@shared_task(ignore_result=True, acks_late=False)
def send_message(message_id: str) -> None:
    """Superseded by the dispatcher; kept so that tasks queued before an upgrade still wake it."""
    outbox_wake()


@shared_task(ignore_result=True, acks_late=False)
def campaign_send(campaign_id: int) -> None:
    """Superseded by the dispatcher; kept so that tasks queued before an upgrade still wake it."""
    outbox_wake()


@shared_task(ignore_result=True)
def campaign_prepare(campaign_id: int) -> None:
    with acting_as(system_user(CELERY)):
        campaigns.campaign_prepare(campaign_id=campaign_id)


@shared_task(ignore_result=True)
def send_due_messages() -> int:
    """Beat: the safety net of the dispatcher's wake-ups. Wakes it when anything is due (a wake
    lost with the broker down, rows come due after quiet hours or a long backoff), and completes
    campaigns whose last messages were settled by webhooks or the reconciler. Returns 1 when it
    woke the dispatcher."""
    with acting_as(system_user(CELERY)):
        campaigns.campaigns_complete_finished()
        if not Message.objects.filter(due_messages(timezone.now())).filter(dispatchable()).exists():
            return 0
    outbox_wake()
    return 1


@shared_task(ignore_result=True)
def reconcile_stale_sending() -> int:
    """Beat: a message left in `sending` longer than the reconcile window got no status from
    Meta; it is marked failed (delivery unknown) for staff, never re-sent blindly."""
    with acting_as(system_user(CELERY)):
        return messages_fail_stale_sending()


@shared_task(ignore_result=True)
def template_apply_scheduled_categories_task() -> int:
    """Beat: apply the recategorisations Meta announced whose time has come."""

    with acting_as(system_user(CELERY)):
        return templates_apply_scheduled_categories()
