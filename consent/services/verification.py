"""Verifying the ledger (the verify_consent_ledger command and its beat task)."""

from __future__ import annotations

from django.utils import timezone

from consent.log import ledger_verify
from consent.models import (
    LedgerVerification,
)


def consent_ledger_verify(*, triggered_by: str = "") -> LedgerVerification:
    """Recompute the log from the events and check it against the stored tree and every signed
    checkpoint, in the database and in LEDGER_CHECKPOINT_DIR (consent.log_verify; streamed,
    flat memory), and record the run."""

    started = timezone.now()
    result = ledger_verify()
    return LedgerVerification.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        ok=result.ok,
        events_checked=result.events_checked,
        checkpoints_checked=result.checkpoints_checked,
        head_sequence=result.tree_size,
        head_hash=result.root_hash,
        first_bad_sequence=result.first_bad_sequence,
        first_bad_event=result.first_bad_event[:64],
        problem=result.problem,
        triggered_by=triggered_by[:64],
    )
