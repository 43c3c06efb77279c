from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pandorakart_wa.models import ApiScope
from pandorakart_wa.services import api_key_create


class Command(BaseCommand):
    help = "Create a storefront API key and print it (alone, on the last line). Only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Who uses the key, e.g. 'storefront-prod'.")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            choices=ApiScope.values,
            help="Limit the key to a scope (repeatable). Default: every scope.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            api_key, key = api_key_create(name=options["name"], scopes=options["scopes"] or [ApiScope.ALL])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(f"Created API key {api_key.prefix}… for {api_key.name}; it is shown once:")
        self.stdout.write(key)
