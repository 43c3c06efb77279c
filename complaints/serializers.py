"""Complaints API shapes (API.md, Complaints). The input names every bad field in one 400."""

from __future__ import annotations

import uuid
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
from messaging.selectors import message_exists
from pandorakart_wa.core.api.fields import PhoneField, StrictCharField, StrictChoiceField, StrictUUIDField, UtcDateTimeField

STATUS_HELP = ", ".join(s for s in Status.values if s not in PUBLIC_STATUS)  # staff-only steps are not shown


class ComplaintInputSerializer(serializers.Serializer[Any]):
    phone = PhoneField(
        required=False, allow_null=True, allow_blank=True,
        help_text="Optional (anonymous complaints allowed); a string: E.164, national Indian or wa_id.",
    )
    channel = StrictChoiceField(choices=[(c.value, c.label) for c in API_CHANNELS])
    category = StrictChoiceField(choices=[(c.value, c.label) for c in API_CATEGORIES])
    description = StrictCharField(max_length=DESCRIPTION_MAX_LENGTH, help_text="At most 5,000 characters.")
    message_id = StrictUUIDField(
        required=False, allow_null=True, help_text="The message complained about (GET /api/v1/messages/{id})."
    )
    name = StrictCharField(
        max_length=200, required=False, allow_blank=True, help_text="Optional: the customer's name, for the greeting."
    )

    def validate_message_id(self, value: uuid.UUID | None) -> uuid.UUID | None:
        if value is not None and not message_exists(message_id=value):
            raise serializers.ValidationError("No message has this id.")
        return value


class ComplaintCreatedSerializer(serializers.Serializer[Any]):
    reference = serializers.CharField(help_text="CMP-YYYY-NNNNNN")
    status = serializers.CharField(help_text="received (always, for a new complaint)")
    acknowledge_by = UtcDateTimeField(help_text="When the first response is due.")
    resolve_by = UtcDateTimeField(
        help_text="When the resolution is due (moves later while the complaint awaits the customer)."
    )


class ResolutionSerializer(serializers.Serializer[Any]):
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    summary = serializers.CharField(help_text="The resolution as told to the customer.")
    resolved_at = UtcDateTimeField()


class ComplaintDetailSerializer(serializers.Serializer[Any]):
    reference = serializers.CharField(help_text="CMP-YYYY-NNNNNN")
    status = serializers.CharField(help_text=STATUS_HELP)
    category = serializers.ChoiceField(choices=Category.choices)
    channel = serializers.ChoiceField(choices=Channel.choices)
    created_at = UtcDateTimeField()
    acknowledge_by = UtcDateTimeField(help_text="When the first response is due.")
    resolve_by = UtcDateTimeField(help_text="When the resolution is due.")
    resolution = ResolutionSerializer(allow_null=True, help_text="Null until the complaint is resolved.")
