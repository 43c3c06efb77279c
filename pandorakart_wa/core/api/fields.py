"""Serializer fields with JSON's types taken at their word, shared by every app's API.

DRF's CharField turns `9876543210` into "9876543210" and its UUIDField turns `12` into a UUID;
a storefront that sends a number where the contract says a string has a bug we should name, not
guess around (a phone number as a JSON number loses its leading 0 and its +). Each field here
refuses any JSON type but the one API.md gives, with an error on the field that says what came
(`{"fields": {"phone": ["Must be a string, not a number."]}}`).

Times in responses: UtcDateTimeField renders every time as UTC with a `Z` (API.md: times in
UTC), the one format the whole API uses.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rest_framework import serializers

from pandorakart_wa.core.phones import InvalidPhoneNumber, normalize_phone


def json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class StrictStringMixin:
    """Refuse anything but a JSON string before the field's own parsing runs."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            raise serializers.ValidationError(f"Must be a string, not {json_type_name(data)}.", code="not_a_string")
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictCharField(StrictStringMixin, serializers.CharField):
    """A string, never a number or a boolean turned into one."""


class StrictChoiceField(StrictStringMixin, serializers.ChoiceField):
    """One of the choices, given as a string."""


class StrictUUIDField(StrictStringMixin, serializers.UUIDField):
    """A UUID in its string form (DRF's own field also takes an integer)."""


class StrictDateTimeField(StrictStringMixin, serializers.DateTimeField):
    """An ISO 8601 time with its offset, as a string."""


class PhoneField(StrictCharField):
    """A phone number as a string in any accepted format (E.164, national Indian, wa_id digits);
    the validated value is E.164. With `allow_blank`/`allow_null`, an absent number is ""."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("help_text", "A string: E.164 (+919227021270), national Indian format or wa_id digits.")
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        if not text:
            return ""
        try:
            return normalize_phone(text)
        except InvalidPhoneNumber as exc:
            raise serializers.ValidationError(str(exc)) from exc


class UtcDateTimeField(serializers.DateTimeField):
    """A time in a response: UTC, ISO 8601, ending in `Z` (2026-11-27T04:30:00Z; fractions of a
    second kept as microseconds when present)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default_timezone", dt.UTC)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return utc_iso(value)
        return super().to_representation(value)


def utc_iso(value: dt.datetime) -> str:
    """The API's one time format: `value` in UTC, ISO 8601, with `Z` for the offset."""
    if value.tzinfo is None:
        raise ValueError("API times are aware datetimes (USE_TZ)")
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
