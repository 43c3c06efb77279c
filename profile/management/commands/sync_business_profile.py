"""`python manage.py sync_business_profile`: one profile sync now (API.md, Operations)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from pandorakart_wa.core.audit import COMMAND, acting_as, system_user
from profile.models import ProfileSyncRun
from profile.services.business_profile import profile_sync

EXIT_ERROR = 1
EXIT_SKIPPED = 2  # another sync held the lock: nothing was done, try again


class Command(BaseCommand):
    help = (
        "Sync the WhatsApp business profile with Meta once: push local changes, report drift. "
        "Exit 0 when the run completed (ok, noop or drift), 1 on error, 2 when another sync was running."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        with acting_as(system_user(COMMAND)):
            try:
                run = profile_sync(trigger=ProfileSyncRun.Trigger.COMMAND)
            except Exception as exc:
                raise CommandError(f"Profile sync failed: {type(exc).__name__}: {exc}", returncode=EXIT_ERROR) from exc
        if run.result == ProfileSyncRun.Result.SKIPPED:
            raise CommandError("Profile sync skipped: another sync is running. Try again shortly.",
                               returncode=EXIT_SKIPPED)
        self.stdout.write(
            f"Profile sync #{run.pk}: {run.result} ({run.get_result_display()}); "
            f"pushed: {', '.join(run.fields_pushed) or 'nothing'}; "
            f"drift: {', '.join(run.drift_fields) or 'none'}"
        )
        if run.drift_fields:
            self.stdout.write("Resolve the drift in the admin: Business profile and policy > Profile drifts.")
