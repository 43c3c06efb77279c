"""Celery tasks of the profile app: thin wrappers that call a service as a system actor."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from pandorakart_wa.core.audit import CELERY, acting_as, system_user
from pandorakart_wa.core.backoff import backoff
from pandorakart_wa.core.tasks import shared_task
from pandorakart_wa.whatsapp.errors import DeliveryUnknown, PermanentError, TransientError
from profile.models import ProfileSyncRun
from profile.services.alerts import alert_raise
from profile.services.business_profile import profile_sync
from profile.services.policy import policy_notify
from profile.services.regulatory import compliance_reviews_check

logger = logging.getLogger(__name__)

# 30 s, 60 s, 120 s, 240 s: the whole retry chain (~7.5 min) ends before the next beat run.
SYNC_MAX_RETRIES = 4
SYNC_BACKOFF_BASE_SECONDS = 30


def sync_backoff(retries: int, retry_after: float | None) -> float:
    return backoff(retries, base=SYNC_BACKOFF_BASE_SECONDS, retry_after=retry_after)


@shared_task(bind=True, ignore_result=True, max_retries=SYNC_MAX_RETRIES)
def profile_sync_task(self: Any, trigger: str = ProfileSyncRun.Trigger.BEAT) -> str:
    """One profile sync (beat runs it every PROFILE_SYNC_INTERVAL_MINUTES).

    Transient Meta errors and timeouts (DeliveryUnknown: a profile update is idempotent, so
    repeating it is safe) are retried with backoff; permanent errors are recorded, not retried.
    A run that finds another one holding the lock records "skipped" and ends at once.
    """
    with acting_as(system_user(CELERY)):
        try:
            run = profile_sync(trigger=trigger, attempt=self.request.retries + 1)
        except (TransientError, DeliveryUnknown) as exc:
            interval = 60 * settings.PROFILE_SYNC_INTERVAL_MINUTES
            countdown = sync_backoff(self.request.retries, getattr(exc, "retry_after", None))
            if self.request.retries >= self.max_retries or countdown >= interval:
                # The next beat run tries again; tell staff it keeps failing.
                alert_raise(
                    kind="profile_sync_error",
                    title="The WhatsApp business profile sync keeps failing",
                    detail=f"{type(exc).__name__}: {exc} (after {self.request.retries + 1} attempts)",
                    dedupe_key="profile-sync-error",
                )
                return ProfileSyncRun.Result.ERROR
            raise self.retry(exc=exc, countdown=countdown) from exc
        except PermanentError:
            return ProfileSyncRun.Result.ERROR  # recorded on the run and alerted by the service
    return run.result


@shared_task(ignore_result=True)
def policy_notify_task(version_id: int) -> str:
    """Call the policy-change notifiers for a newly published significant change."""
    with acting_as(system_user(CELERY)):
        return policy_notify(version_id=version_id).notification_status


@shared_task(ignore_result=True)
def compliance_reviews_task() -> int:
    """Daily: flag overdue policy reviews and register entries to the Compliance officers."""
    with acting_as(system_user(CELERY)):
        alerts = compliance_reviews_check()
    logger.info("Compliance review check: %d open alert(s) raised or refreshed", len(alerts))
    return len(alerts)
