"""`python manage.py verify_consent_ledger`: exit 0 when the ledger is intact, 1 naming the
first bad event otherwise (API.md, Operations). Recomputes the Merkle tree from the events and
checks it against the stored tree and every checkpoint in the database and in
LEDGER_CHECKPOINT_DIR (consent.log_verify). Streams the table: constant memory."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from consent.models import ConsentEvent
from consent.services.verification import consent_ledger_verify
from pandorakart_wa.core.audit import COMMAND, acting_as, system_user


class Command(BaseCommand):
    help = "Verify the consent ledger against its Merkle tree and every signed checkpoint; exit 1 naming the first bad event."

    def handle(self, *args: Any, **options: Any) -> None:
        with acting_as(system_user(COMMAND)):
            run = consent_ledger_verify(triggered_by="verify_consent_ledger")
        seconds = (run.finished_at - run.started_at).total_seconds()
        waiting = ConsentEvent.objects.filter(sequence__isnull=True).count()  # the sequencer's queue
        if run.ok:
            self.stdout.write(
                f"Consent ledger intact: {run.events_checked} events verified in {seconds:.1f} s against "
                f"{run.checkpoints_checked} signed checkpoints"
                + (f" (tree of {run.head_sequence} events, root {run.head_hash[:16]})" if run.head_sequence else "")
                + (f"; {waiting} newer events wait for the sequencer" if waiting else "")
            )
            return
        self.stderr.write(
            f"Consent ledger BROKEN at event #{run.first_bad_sequence} ({run.first_bad_event}): {run.problem}. "
            f"{run.events_checked} events before it verified, against {run.checkpoints_checked} checkpoints."
        )
        sys.exit(1)
