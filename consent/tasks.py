"""Consent's periodic jobs (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

import logging

from consent.log import ledger_sequence
from consent.services.verification import consent_ledger_verify
from pandorakart_wa.core.audit import CELERY, acting_as, system_user
from pandorakart_wa.core.tasks import shared_task

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True, acks_late=True)
def consent_ledger_verify_task() -> bool:
    """Nightly proof that the consent ledger is untouched; a broken ledger is logged as an error."""
    with acting_as(system_user(CELERY)):
        run = consent_ledger_verify(triggered_by="celery beat")
    if not run.ok:
        logger.error("Consent ledger verification FAILED at %s: %s", run.first_bad_event, run.problem)
    return run.ok


@shared_task(ignore_result=True, acks_late=True)
def consent_ledger_sequence_task() -> int:
    """The ledger's sequencer, every second from beat (a run already going makes this one a
    no-op). The first run that adds events after a checkpoint also books a run for the moment
    the next checkpoint is due, so a receipt is signed within LEDGER_CHECKPOINT_SECONDS rather
    than at the next tick after it."""
    run = ledger_sequence()
    if run.checkpoint is not None:
        logger.info("Consent ledger checkpoint signed: %s events", run.checkpoint.tree_size)
    if run.waiting and run.first_since_checkpoint and run.next_checkpoint_in is not None:
        consent_ledger_sequence_task.apply_async(countdown=run.next_checkpoint_in, expires=run.next_checkpoint_in + 5)
    return run.integrated
