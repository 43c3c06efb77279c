from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from consent.managers import consent_manager_key_bind
from consent.services.common import ConsentError
from pandorakart_wa.core.api.keys import api_key_create
from pandorakart_wa.core.models import ApiScope


class Command(BaseCommand):
    help = "Create a storefront API key and print it (alone, on the last line). Only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Who uses the key, e.g. 'storefront-prod'.")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            choices=ApiScope.values,
            help="Limit the key to a scope (repeatable). Default: every scope (consent_manager with --consent-manager).",
        )
        parser.add_argument(
            "--consent-manager",
            dest="consent_manager",
            metavar="REGISTRATION_ID",
            help="Bind the key to this registered consent manager (register_consent_manager first).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        manager = options["consent_manager"]
        scopes = options["scopes"] or ([ApiScope.CONSENT_MANAGER] if manager else [ApiScope.ALL])
        if manager and ApiScope.CONSENT_MANAGER not in scopes:
            raise CommandError("A consent manager's key needs --scope consent_manager.")
        try:
            with transaction.atomic():  # no key is left behind when the binding fails
                api_key, key = api_key_create(name=options["name"], scopes=scopes)
                if manager:
                    consent_manager_key_bind(api_key=api_key, registration_id=manager)
        except ConsentError as exc:
            raise CommandError(str(exc)) from exc
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        bound = f", bound to consent manager {manager}" if manager else ""
        self.stderr.write(f"Created API key {api_key.prefix}… for {api_key.name}{bound}; it is shown once:")
        self.stdout.write(key)
