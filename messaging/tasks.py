"""Celery tasks of the messaging app. Templates part: submission retries and the status pull."""

from __future__ import annotations

import logging
import random
from typing import Any

from celery import shared_task
from django.core.exceptions import ValidationError

from messaging.models import MessageTemplate
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
