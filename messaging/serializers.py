"""Serializers of the messaging API. Templates part."""

from __future__ import annotations

from rest_framework import serializers


class StorefrontTemplateSerializer(serializers.Serializer):
    """One entry of GET /api/v1/templates (API.md, Templates)."""

    name = serializers.CharField()
    language = serializers.CharField()
    category = serializers.CharField(help_text="MARKETING, UTILITY or AUTHENTICATION (Meta's current category).")
    purpose = serializers.CharField(help_text="The consent purpose a send of this template needs.")
    variables = serializers.IntegerField(help_text="How many values a send supplies for the body's {{1}}..{{n}}.")
    body = serializers.CharField()
    usable = serializers.BooleanField(
        help_text="True only if the template passed lint, internal approval and Meta approval and is not "
        "paused, disabled, held or RED."
    )
    status = serializers.CharField(help_text="Meta's status in lowercase (approved, pending, paused...) or `held`.")
    quality = serializers.CharField(help_text="GREEN, YELLOW, RED or UNKNOWN.")
