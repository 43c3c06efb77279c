"""`python manage.py apply_retention [--dry-run]`: redact raw webhook bodies older than
RETENTION_WEBHOOK_DAYS and prune old operational rows, audit and access logs past their periods
(pandorakart_wa.retention); with --dry-run, print what it would remove and change nothing.

Beat runs the same nightly (pandorakart_wa.tasks.apply_retention_task). A RETENTION_AUDIT_DAYS
below 365 is refused: the command exits 1 naming the variable, and removes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pandorakart_wa.core.audit import COMMAND, acting_as, system_user
from pandorakart_wa.retention import retention_apply, retention_describe


class Command(BaseCommand):
    help = "Redact old raw webhook bodies and prune old operational rows (--dry-run: only say what)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="print what would be removed; change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = system_user(COMMAND)
        try:
            with acting_as(actor):
                report = retention_apply(dry_run=options["dry_run"], actor=actor)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        if report.dry_run:
            self.stdout.write("Dry run: nothing changed.")
        for line in retention_describe(report):
            self.stdout.write(line)
