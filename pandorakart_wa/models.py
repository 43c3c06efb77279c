"""Project-wide models: the storefront's API keys."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager


class ApiScope(models.TextChoices):
    ALL = "*", "Every endpoint"
    CONSENT = "consent", "Consent and notices"
    PRIVACY = "privacy", "Erasure and export"
    MESSAGES = "messages", "Messages"
    TEMPLATES = "templates", "Templates (read)"
    COMPLAINTS = "complaints", "Complaints"
    PROFILE = "profile", "Business profile (read)"
    LEDGER = "ledger", "Consent ledger checkpoints and proofs (auditors)"


class StorefrontApiKeyManager(BaseAPIKeyManager["StorefrontApiKey"]):
    pass


class StorefrontApiKey(AbstractAPIKey):
    """An API key of a system that calls /api/v1/ (only its hash is stored).

    Each key has its own user row so that django-auditlog can name it as the actor of the
    changes made through it (the user can never sign in).
    """

    scopes = models.JSONField(default=list, help_text="API scopes; '*' allows every endpoint.")
    actor = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="storefront_api_key"
    )

    objects = StorefrontApiKeyManager()  # type: ignore[misc,assignment]

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "storefront API key"
        verbose_name_plural = "storefront API keys"

    def has_scope(self, scope: str) -> bool:
        return ApiScope.ALL in self.scopes or scope in self.scopes


class WebhookEvent(models.Model):
    """One POST from Meta, stored raw as it arrived (Meta has no history API to fetch it again).

    `body_sha256` deduplicates redeliveries: the same payload delivered twice is applied once.
    """

    class Source(models.TextChoices):
        META = "meta", "Meta webhook"
        SANDBOX = "sandbox", "Sandbox backend"

    body_sha256 = models.CharField(max_length=64, unique=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.META)
    payload = models.JSONField()
    fields = models.JSONField(default=list, help_text="The `field` of each change in the payload.")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    deferred = models.BooleanField(
        default=False,
        help_text="Statuses only: answered at once and applied in batches by a worker (pandorakart_wa.webhooks).",
    )

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(
                fields=["id"], name="core_webhook_deferred_pending",
                condition=models.Q(deferred=True, processed_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{', '.join(self.fields) or 'event'} at {self.received_at:%Y-%m-%d %H:%M:%S}"


# The compliance dashboard's and reports' permissions (an unmanaged model without a table).
from pandorakart_wa.dashboard.models import ComplianceReport  # noqa: E402,F401
