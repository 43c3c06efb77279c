"""Complaints API shapes (API.md, Complaints). The input names every bad field in one 400."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

from rest_framework import serializers

from complaints.models import (
    API_CATEGORIES,
    API_CHANNELS,
    DESCRIPTION_MAX_LENGTH,
    PUBLIC_STATUS,
    Category,
    Channel,
    Outcome,
    Status,
)
from messaging.models import Message
from pandorakart_wa.phones import InvalidPhoneNumber, normalize_phone

STATUS_HELP = ", ".join(s for s in Status.values if s not in PUBLIC_STATUS)  # staff-only steps are not shown


class UtcDateTimeField(serializers.DateTimeField):
    """API.md: times in responses are UTC."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default_timezone", UTC)
        super().__init__(**kwargs)


class OptionalPhoneField(serializers.CharField):
    """A phone in any accepted format, or null/empty for an anonymous complaint."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("help_text", "Optional (anonymous complaints allowed); E.164, national Indian or wa_id.")
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        if not text:
            return ""
        try:
            return normalize_phone(text)
        except InvalidPhoneNumber as exc:
            raise serializers.ValidationError(str(exc)) from exc


class ComplaintInputSerializer(serializers.Serializer):
    phone = OptionalPhoneField()
    channel = serializers.ChoiceField(choices=[(c.value, c.label) for c in API_CHANNELS])
    category = serializers.ChoiceField(choices=[(c.value, c.label) for c in API_CATEGORIES])
    description = serializers.CharField(max_length=DESCRIPTION_MAX_LENGTH, help_text="At most 5,000 characters.")
    message_id = serializers.UUIDField(
        required=False, allow_null=True, help_text="The message complained about (GET /api/v1/messages/{id})."
    )
    name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Optional: the customer's name, for the greeting."
    )

    def validate_message_id(self, value: uuid.UUID | None) -> uuid.UUID | None:
        if value is not None and not Message.objects.filter(pk=value).exists():
            raise serializers.ValidationError("No message has this id.")
        return value


class ComplaintCreatedSerializer(serializers.Serializer):
    reference = serializers.CharField(help_text="CMP-YYYY-NNNNNN")
    status = serializers.CharField(help_text="received (always, for a new complaint)")
    acknowledge_by = UtcDateTimeField(help_text="When the first response is due.")
    resolve_by = UtcDateTimeField(
        help_text="When the resolution is due (moves later while the complaint awaits the customer)."
    )


class ResolutionSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    summary = serializers.CharField(help_text="The resolution as told to the customer.")
    resolved_at = UtcDateTimeField()


class ComplaintDetailSerializer(serializers.Serializer):
    reference = serializers.CharField(help_text="CMP-YYYY-NNNNNN")
    status = serializers.CharField(help_text=STATUS_HELP)
    category = serializers.ChoiceField(choices=Category.choices)
    channel = serializers.ChoiceField(choices=Channel.choices)
    created_at = UtcDateTimeField()
    acknowledge_by = UtcDateTimeField(help_text="When the first response is due.")
    resolve_by = UtcDateTimeField(help_text="When the resolution is due.")
    resolution = ResolutionSerializer(allow_null=True, help_text="Null until the complaint is resolved.")
