"""`python manage.py rotate_field_encryption`: re-encrypt personal data (phone numbers, raw webhook
bodies and their items) with the newest key.

Put the new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), deploy, run this,
then drop the old keys.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from consent.models import Contact
from pandorakart_wa.fields import ROTATE_BATCH_SIZE, rotate_encrypted_field
from pandorakart_wa.models import WebhookEvent, WebhookItem

ENCRYPTED_FIELDS = {
    Contact: ("phone", "wa_id"),
    WebhookEvent: ("body_token",),  # raw webhook bodies (bytes under Fernet)
    WebhookItem: ("payload",),
}


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field with the newest key of FIELD_ENCRYPTION_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=ROTATE_BATCH_SIZE)

    def handle(self, *args: Any, **options: Any) -> None:
        for model, fields in ENCRYPTED_FIELDS.items():
            total = sum(rotate_encrypted_field(model, fields, batch_size=options["batch_size"]))
            self.stdout.write(f"{model._meta.label}: {total} values re-encrypted with the newest key")
