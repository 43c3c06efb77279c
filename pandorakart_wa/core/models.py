"""The storefront's API keys and their scopes (the core app's models; the app label stays `core`)."""

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
    CONSENT_MANAGER = "consent_manager", "A registered consent manager's artefacts (key bound to one manager)"


class StorefrontApiKeyManager(BaseAPIKeyManager):  # the library's manager is Manager[Any]: it takes no type argument
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
