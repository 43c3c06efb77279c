from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from pandorakart_wa.core.api.fields import UtcDateTimeField
from profile.models import BusinessProfile


class SupportSerializer(serializers.Serializer[Any]):
    email = serializers.CharField()
    phone = serializers.CharField()
    website = serializers.CharField()


class ProfileSerializer(serializers.Serializer[Any]):
    """GET /api/v1/profile (API.md, Business profile): the values pushed to WhatsApp."""

    name = serializers.CharField()
    about = serializers.CharField()
    description = serializers.CharField()
    address = serializers.CharField()
    email = serializers.CharField()
    websites = serializers.ListField(child=serializers.CharField(), max_length=2)
    vertical = serializers.CharField(help_text="One of Meta's verticals, or empty.")
    phone = serializers.CharField()
    support = serializers.SerializerMethodField()
    updated_at = UtcDateTimeField()

    @extend_schema_field(SupportSerializer)
    def get_support(self, profile: BusinessProfile) -> dict[str, Any]:
        return {"email": profile.support_email, "phone": profile.support_phone, "website": profile.support_website}
