"""Serializers of the messaging API. Templates part."""

from __future__ import annotations

from typing import Any

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


# --- Messages (API.md, Messages) -----------------------------------------------------------

IDEMPOTENCY_KEY_MAX = 255


class MessageInputSerializer(serializers.Serializer):
    to = serializers.CharField(max_length=64)
    template = serializers.CharField(max_length=512, required=False)
    language = serializers.CharField(max_length=16, required=False, default="en")
    variables = serializers.ListField(child=serializers.CharField(max_length=1024, allow_blank=True), required=False,
                                      default=list, max_length=100)
    text = serializers.CharField(max_length=4096, required=False, trim_whitespace=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "template" in attrs and "text" in attrs:
            raise serializers.ValidationError(
                {"template": ["Give either a template (with variables) or a text, not both."]}
            )
        if "template" not in attrs and "text" not in attrs:
            raise serializers.ValidationError({"template": ["Give a template (with its variables) or a text."]})
        if "text" in attrs and attrs.get("variables"):
            raise serializers.ValidationError({"variables": ["A text message takes no variables."]})
        return attrs


class MessageErrorSerializer(serializers.Serializer):
    code = serializers.IntegerField(allow_null=True)
    title = serializers.CharField()


class MessageEventSerializer(serializers.Serializer):
    status = serializers.CharField()
    at = serializers.DateTimeField()


class MessageAcceptedSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.CharField()
    to = serializers.CharField(help_text="Masked phone number.")
    template = serializers.CharField(allow_null=True)
    purpose = serializers.CharField()
    created_at = serializers.DateTimeField()


class MessageDetailSerializer(MessageAcceptedSerializer):
    wamid = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_blank=True, help_text="Policy code when suppressed or deferred.")
    error = MessageErrorSerializer(allow_null=True)
    events = MessageEventSerializer(many=True)
