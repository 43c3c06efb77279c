"""`python manage.py register_consent_manager <registration_id> <name> [--inactive]`: record a
consent manager registered with the Data Protection Board (API.md "Consent managers"); then
`create_api_key <name> --scope consent_manager --consent-manager <registration_id>` gives it a key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from consent.managers import consent_manager_register
from consent.services.common import ConsentError
from consent.types import Actor
from pandorakart_wa.core.audit import COMMAND, acting_as, system_user


class Command(BaseCommand):
    help = "Register a consent manager (its Data Protection Board registration id and name)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("registration_id", help="The Board's registration id of the consent manager.")
        parser.add_argument("name", help="The consent manager's name.")
        parser.add_argument("--inactive", action="store_true", help="Record it without accepting its keys yet.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with acting_as(system_user(COMMAND)):
                manager = consent_manager_register(
                    registration_id=options["registration_id"], name=options["name"],
                    active=not options["inactive"], actor=Actor.system("register_consent_manager"),
                )
        except ConsentError as exc:
            raise CommandError(f"{exc.field}: {exc}") from exc
        state = "active" if manager.active else "inactive"
        self.stdout.write(f"Registered consent manager {manager.registration_id} ({manager.name}), {state}.")
