"""`python manage.py rotate_field_encryption`: re-encrypt all personal data at rest (every
encrypted field of every model, and the raw webhook bodies) with the newest key.

Put the new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), deploy, run this,
then drop the old keys. The fields are found, not listed: a new encrypted field is rotated too.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandParser
from django.db import models

from pandorakart_wa.core.fields import ROTATE_BATCH_SIZE, encrypted_fields, rotate_encrypted_field
from pandorakart_wa.webhooks.models import WebhookEvent

# Token columns that are plain TextFields (the body is encrypted as bytes by the intake).
RAW_TOKEN_FIELDS: dict[type[models.Model], tuple[str, ...]] = {WebhookEvent: ("body_token",)}


def encrypted_columns() -> dict[type[models.Model], tuple[str, ...]]:
    """Every model with personal data encrypted at rest, and its encrypted columns."""
    found: dict[type[models.Model], tuple[str, ...]] = {}
    for model in apps.get_models():
        names = (*encrypted_fields(model), *RAW_TOKEN_FIELDS.get(model, ()))
        if names:
            found[model] = names
    return found


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field with the newest key of FIELD_ENCRYPTION_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=ROTATE_BATCH_SIZE)

    def handle(self, *args: Any, **options: Any) -> None:
        for model, fields in encrypted_columns().items():
            total = sum(rotate_encrypted_field(model, fields, batch_size=options["batch_size"]))
            self.stdout.write(f"{model._meta.label}: {total} values re-encrypted with the newest key")
