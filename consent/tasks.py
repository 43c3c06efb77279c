"""Consent's periodic jobs (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

import logging

from celery import shared_task

from consent.services import consent_ledger_verify
from pandorakart_wa.audit import CELERY, acting_as, system_user

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True, acks_late=True)
def consent_ledger_verify_task() -> bool:
    """Nightly proof that the consent ledger is untouched; a broken chain is logged as an error."""
    with acting_as(system_user(CELERY)):
        run = consent_ledger_verify(triggered_by="celery beat")
    if not run.ok:
        logger.error("Consent ledger verification FAILED at %s: %s", run.first_bad_event, run.problem)
    return run.ok
