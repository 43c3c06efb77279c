"""Project-level periodic tasks."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)

HEARTBEAT_CACHE_KEY = "core:beat-heartbeat"


@shared_task(ignore_result=True)
def heartbeat() -> str:
    """Beat's liveness mark: operators (and the dashboard) can see that the scheduler runs."""
    now = timezone.now().isoformat()
    cache.set(HEARTBEAT_CACHE_KEY, now, timeout=None)
    return now


@shared_task(ignore_result=True)
def sandbox_feed_status(*, wamid: str, recipient: str, status: str, callback_data: str | None) -> None:
    """The sandbox backend's status webhook, fed through the real webhook processing path."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    from pandorakart_wa.whatsapp.backends.sandbox import status_payload

    process_payload = import_string(settings.WHATSAPP_WEBHOOK_PROCESSOR)  # webhooks.process_payload
    process_payload(status_payload(wamid=wamid, recipient=recipient, status=status, callback_data=callback_data))


@shared_task(ignore_result=True)
def apply_deferred_webhooks(gather: bool = True) -> int:
    """Apply the stored webhook items not applied yet (asked for after each webhook's commit;
    beat sweeps too, which also reads any event a crash left unread; a drain that ran its time
    asks for the next with gather=False)."""
    from pandorakart_wa.webhooks.drain import webhooks_drain

    return webhooks_drain(gather=gather)


@shared_task(ignore_result=True)
def apply_retention_task() -> int:
    """Nightly: redact old raw webhook bodies and prune old operational rows (pandorakart_wa.retention).
    A policy below the audit floor removes nothing: it raises, and the error is in the worker's log."""
    from django.core.exceptions import ImproperlyConfigured

    from pandorakart_wa.retention import retention_apply
    from profile.services import alert_raise

    try:
        return retention_apply().total
    except ImproperlyConfigured as exc:
        alert_raise(kind="retention_misconfigured", title="Retention was not applied: its settings are refused",
                    detail=str(exc), dedupe_key="retention:misconfigured")
        raise
