"""Project-level periodic tasks."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from pandorakart_wa.core.tasks import shared_task
from pandorakart_wa.retention import retention_apply
from profile.services.alerts import alert_raise

logger = logging.getLogger(__name__)

HEARTBEAT_CACHE_KEY = "core:beat-heartbeat"


@shared_task(ignore_result=True)
def heartbeat() -> str:
    """Beat's liveness mark: operators (and the dashboard) can see that the scheduler runs."""
    now = timezone.now().isoformat()
    cache.set(HEARTBEAT_CACHE_KEY, now, timeout=None)
    return now


@shared_task(ignore_result=True)
def apply_retention_task() -> int:
    """Nightly: redact old raw webhook bodies and prune old operational rows (pandorakart_wa.retention).
    A policy below the audit floor removes nothing: it raises, and the error is in the worker's log."""
    try:
        return retention_apply().total
    except ImproperlyConfigured as exc:
        alert_raise(kind="retention_misconfigured", title="Retention was not applied: its settings are refused",
                    detail=str(exc), dedupe_key="retention:misconfigured")
        raise
