from __future__ import annotations

from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    label = "consent"
    verbose_name = "Consent"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from consent import checks  # noqa: F401  (registers the ledger's system checks)
        from consent.models import ConsentManager, ConsentNotice, Contact, OptOutKeyword

        # Field-level history of staff-visible changes. The number itself never enters the
        # audit log (excluded, not just masked); the ledger is its own, stronger record.
        auditlog.register(Contact, exclude_fields=["phone", "wa_id", "updated_at"], mask_fields=["user_id"])
        auditlog.register(ConsentNotice, exclude_fields=["updated_at"])
        auditlog.register(OptOutKeyword, exclude_fields=["updated_at"])
        auditlog.register(ConsentManager, exclude_fields=["updated_at"])
