"""`python manage.py replay_webhooks [--failed] [--since ISO] [--event N ...]`: apply stored
webhook items again, once each (API.md Operations).

Without options: the dead-lettered items (they failed every retry; fix the cause first).
--failed also takes the items still retrying, now. --event takes every unfinished item of
those events (reading an event a crash left unread). --since limits to items received since.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from pandorakart_wa.core.audit import COMMAND, acting_as, system_user
from pandorakart_wa.webhooks.services import webhooks_replay


def _since(text: str) -> datetime:
    value = parse_datetime(text)
    if value is None or value.tzinfo is None:
        raise CommandError(f"--since {text!r}: give an ISO date and time with an offset, e.g. 2026-12-01T09:00:00+05:30")
    return value


class Command(BaseCommand):
    help = "Apply dead-lettered (or, with --failed, retrying) webhook items again, once each."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--failed", action="store_true", help="also the items still being retried")
        parser.add_argument("--since", type=_since, help="only items received since (ISO 8601 with offset)")
        parser.add_argument("--event", type=int, action="append", help="every unfinished item of this event")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = system_user(COMMAND)
        with acting_as(actor):
            report = webhooks_replay(event_ids=options["event"], include_failed=options["failed"],
                                     since=options["since"], actor=actor)
        for note in report.redacted:
            self.stdout.write(self.style.WARNING(f"Redacted: {note}"))
        self.stdout.write(
            f"{report.read} event(s) read, {report.replayed} item(s) replayed: {report.applied} applied, "
            f"{report.still_failing} still failing"
        )
        if report.still_failing:
            raise SystemExit(1)
