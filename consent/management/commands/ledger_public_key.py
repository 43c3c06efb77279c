"""`python manage.py ledger_public_key`: the consent ledger's verifier key, alone on the last
line, in the C2SP note verifier-key format `<name>+<key id hex>+<base64(0x01 || public key)>`
(what an auditor needs, with a checkpoint, to check any receipt: README, "For auditors")."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from consent.log import log_verifier
from consent.note import public_bytes, verifier_key


class Command(BaseCommand):
    help = "Print the consent ledger's public verifier key (C2SP signed-note format), alone on the last line."

    def handle(self, *args: Any, **options: Any) -> None:
        verifier = log_verifier()
        self.stderr.write(f"Verifier key of the consent ledger {settings.LEDGER_LOG_ORIGIN} (Ed25519):")
        self.stdout.write(verifier_key(verifier.name, public_bytes(verifier.public_key)))
