"""The core app's models module (app label `core`): Django loads the app's models from here.
Each model lives beside the code that owns it; their tables and migrations stay the core app's."""

from __future__ import annotations

from pandorakart_wa.backoffice.models import ComplianceReport
from pandorakart_wa.core.models import ApiScope, StorefrontApiKey
from pandorakart_wa.webhooks.models import WebhookEvent, WebhookItem

__all__ = ["ApiScope", "ComplianceReport", "StorefrontApiKey", "WebhookEvent", "WebhookItem"]
