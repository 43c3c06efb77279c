"""What a customer consents to (API.md, "Purposes"), shared by every app that sends."""

from __future__ import annotations

from django.db import models


class Purpose(models.TextChoices):
    ORDER_UPDATES = "order_updates", "Order updates"
    ACCOUNT_SECURITY = "account_security", "Account security (one-time codes)"
    MARKETING = "marketing", "Marketing"
    SUPPORT = "support", "Support replies"


class TemplateCategory(models.TextChoices):
    MARKETING = "MARKETING", "Marketing"
    UTILITY = "UTILITY", "Utility"
    AUTHENTICATION = "AUTHENTICATION", "Authentication"


# The consent a template's category needs (API.md: purposes and the categories they cover).
PURPOSE_FOR_CATEGORY: dict[str, Purpose] = {
    TemplateCategory.MARKETING: Purpose.MARKETING,
    TemplateCategory.UTILITY: Purpose.ORDER_UPDATES,
    TemplateCategory.AUTHENTICATION: Purpose.ACCOUNT_SECURITY,
}
