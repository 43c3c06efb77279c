"""Consent API shapes (API.md, Consent). Input serializers name every bad field in one 400."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from consent.ledger import canonical_json
from consent.models import API_SOURCES, ConsentEvent, ConsentNotice, ConsentState, Contact, Source, Status
from consent.purposes import Purpose
from consent.selectors import notice_by_version
from consent.services.common import CLOCK_SKEW_TOLERANCE, EVIDENCE_MAX_BYTES
from pandorakart_wa.core.api.fields import (
    PhoneField,
    StrictCharField,
    StrictChoiceField,
    StrictDateTimeField,
    UtcDateTimeField,
    json_type_name,
)
from pandorakart_wa.core.phones import mask_phone


class PurposesField(serializers.ListField):
    """A list of purposes; an unknown one is reported on `purposes` itself (not `purposes.1`)."""

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, list):
            for position, item in enumerate(data, start=1):
                if not isinstance(item, str):
                    raise serializers.ValidationError(
                        f"Each purpose is a string; item {position} is {json_type_name(item)}."
                    )
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail
            if isinstance(detail, dict):  # {index: [message]} from the child field
                unknown = [str(data[int(i)]) for i in detail if str(i).isdigit() and int(i) < len(data)]
                raise serializers.ValidationError(
                    f"Unknown purposes: {', '.join(unknown)}. Use: {', '.join(Purpose.values)}."
                ) from exc
            raise


def _purposes_field(*, required: bool) -> serializers.ListField:
    return PurposesField(
        child=StrictChoiceField(choices=Purpose.choices),
        allow_empty=False,
        required=required,
        help_text="Each one of: " + ", ".join(Purpose.values),
    )


def _check_evidence(value: Mapping[str, Any]) -> dict[str, Any]:
    if len(canonical_json(dict(value))) > EVIDENCE_MAX_BYTES:
        raise serializers.ValidationError(f"Evidence must be at most {EVIDENCE_MAX_BYTES} bytes (8 KiB) of JSON.")
    return dict(value)


def _check_occurred_at(value: datetime) -> datetime:
    if value > timezone.now() + CLOCK_SKEW_TOLERANCE:
        raise serializers.ValidationError("occurred_at cannot be in the future.")
    return value


class OptInInputSerializer(serializers.Serializer[Any]):
    phone = PhoneField()
    purposes = _purposes_field(required=True)
    notice_version = StrictCharField(max_length=64, help_text="The version of a published consent notice.")
    source = StrictChoiceField(choices=[(s.value, s.label) for s in API_SOURCES])  # type: ignore[assignment]
    evidence = serializers.DictField(
        required=False, help_text="ip, user_agent, page_url, checkbox_text, consent_manager_ref... (<= 8 KiB)"
    )
    occurred_at = StrictDateTimeField(required=False, help_text="Defaults to now; never in the future.")

    def validate_notice_version(self, value: str) -> ConsentNotice:
        notice = notice_by_version(value)
        if notice is None:
            raise serializers.ValidationError(f"No consent notice has version {value!r}.")
        if not notice.is_published:
            raise serializers.ValidationError(f"Consent notice {value!r} is not published.")
        return notice

    def validate_evidence(self, value: Mapping[str, Any]) -> dict[str, Any]:
        return _check_evidence(value)

    def validate_occurred_at(self, value: datetime) -> datetime:
        return _check_occurred_at(value)


class OptOutInputSerializer(serializers.Serializer[Any]):
    phone = PhoneField()
    purposes = _purposes_field(required=False)
    source = StrictChoiceField(  # type: ignore[assignment]  # the API's field is named source
        choices=[(s.value, s.label) for s in API_SOURCES],
        required=False,
        default=Source.ACCOUNT_SETTINGS.value,
        help_text="Defaults to account_settings.",
    )
    reason = StrictCharField(required=False, allow_blank=True, max_length=500, default="")
    evidence = serializers.DictField(required=False, help_text="As for opt-in (<= 8 KiB).")
    occurred_at = StrictDateTimeField(required=False, help_text="Defaults to now; never in the future.")

    def validate_evidence(self, value: Mapping[str, Any]) -> dict[str, Any]:
        return _check_evidence(value)

    def validate_occurred_at(self, value: datetime) -> datetime:
        return _check_occurred_at(value)


class ErasureInputSerializer(serializers.Serializer[Any]):
    phone = PhoneField()


class ExportQuerySerializer(serializers.Serializer[Any]):
    phone = PhoneField()


class LookupInputSerializer(serializers.Serializer[Any]):
    """{"phone"} in a POST body: a look-up that keeps the number out of URLs and access logs."""

    phone = PhoneField()


class NoticeQuerySerializer(serializers.Serializer[Any]):
    language = StrictCharField(required=False, default="en", max_length=16)


# --- Output -------------------------------------------------------------------------------


class PurposeStateSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=Status.choices)
    since = UtcDateTimeField(required=False)
    source = serializers.CharField(required=False)  # type: ignore[assignment]
    notice_version = serializers.CharField(required=False)


class PurposesSerializer(serializers.Serializer[Any]):
    order_updates = PurposeStateSerializer()
    account_security = PurposeStateSerializer()
    marketing = PurposeStateSerializer()
    support = PurposeStateSerializer()


class HistoryItemSerializer(serializers.Serializer[Any]):
    event = serializers.CharField()
    action = serializers.CharField()
    purpose = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]
    notice_version = serializers.CharField(allow_blank=True)
    occurred_at = UtcDateTimeField()
    recorded_at = UtcDateTimeField()
    leaf_index = serializers.IntegerField(
        allow_null=True,
        help_text="The event's place in the ledger's Merkle tree; null until the sequencer adds it (within "
        "seconds). Its inclusion proof: GET /api/v1/ledger/proof/{event}.",
    )


class ContactStateSerializer(serializers.Serializer[Any]):
    contact = serializers.CharField()
    phone = serializers.CharField(help_text="Masked: +91******1270")
    purposes = PurposesSerializer()
    blocked = serializers.BooleanField()
    erased = serializers.BooleanField()
    history = HistoryItemSerializer(many=True)


class ConsentReceiptSerializer(ContactStateSerializer):
    receipt = serializers.ListField(child=serializers.CharField(), help_text="Ids of the ledger events written.")


class NoticeSerializer(serializers.Serializer[Any]):
    version = serializers.CharField()
    language = serializers.CharField()
    title = serializers.CharField()
    text = serializers.CharField()
    purposes = serializers.ListField(child=serializers.CharField())
    items = serializers.ListField(child=serializers.DictField())
    withdrawal_instructions = serializers.CharField()
    complaint_instructions = serializers.CharField()
    business_name = serializers.CharField()
    business_contact = serializers.CharField()
    text_sha256 = serializers.CharField()
    published_at = UtcDateTimeField()


class ErasureResponseSerializer(serializers.Serializer[Any]):
    contact = serializers.CharField()
    phone = serializers.CharField()
    erased = serializers.BooleanField()
    erased_at = UtcDateTimeField()
    receipt = serializers.ListField(child=serializers.CharField())


class ExportResponseSerializer(serializers.Serializer[Any]):
    contact = serializers.CharField()
    phone = serializers.CharField()
    consent = serializers.DictField(help_text="Identifiers, current state and the full consent history.")
    messages = serializers.JSONField(required=False, help_text="Provided by the messaging app's exporter.")
    complaints = serializers.JSONField(required=False, help_text="Provided by the complaints app's exporter.")


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def purpose_state(state: ConsentState | None) -> dict[str, Any]:
    if state is None:
        return {"status": Status.NONE.value}
    body: dict[str, Any] = {"status": state.status, "since": _utc(state.since), "source": state.source}
    if state.notice_version:
        body["notice_version"] = state.notice_version
    return body


def history_item(event: ConsentEvent) -> dict[str, Any]:
    return {
        "event": event.public_id,
        "action": event.action,
        "purpose": event.purpose,
        "source": event.source,
        "notice_version": event.notice_version,
        "occurred_at": _utc(event.occurred_at),
        "recorded_at": _utc(event.recorded_at),
        "leaf_index": event.leaf_index,
    }


def contact_state_document(
    contact: Contact, *, states: Mapping[str, ConsentState], history: list[ConsentEvent], phone: str | None = None
) -> dict[str, Any]:
    """API.md's state of a contact, ready for DRF's JSON renderer (times in UTC; the
    ContactStateSerializer documents the same shape). `phone` (E.164) masks the number asked
    for when the contact no longer holds it (erased)."""
    return {
        "contact": contact.public_id,
        "phone": contact.masked_phone or (mask_phone(phone) if phone else ""),
        "purposes": {p: purpose_state(states.get(p)) for p in Purpose.values},
        "blocked": contact.blocked,
        "erased": contact.erased,
        "history": [history_item(e) for e in history],
    }


# --- Preference centre ----------------------------------------------------------------------


class PreferenceLinkInputSerializer(serializers.Serializer[Any]):
    phone = PhoneField()
    language = StrictChoiceField(
        choices=[("en", "English"), ("hi", "Hindi")], required=False, default="en",
        help_text="The page's language: en (default) or hi.",
    )


class PreferenceLinkSerializer(serializers.Serializer[Any]):
    url = serializers.CharField(help_text="The signed, single-customer link (GET it in a browser; no key).")
    expires_at = UtcDateTimeField()


# --- Consent managers -----------------------------------------------------------------------


class ConsentManagerEventInputSerializer(serializers.Serializer[Any]):
    artefact_id = StrictCharField(max_length=128, help_text="The consent manager's id of the consent artefact.")
    phone = PhoneField(required=False, help_text="Required for a grant; a withdrawal defaults to the grant's number.")
    action = StrictChoiceField(choices=[("grant", "Grant"), ("withdraw", "Withdraw")])
    purposes = _purposes_field(required=False)
    notice_version = StrictCharField(
        max_length=64, required=False, help_text="Required for a grant: the published notice the customer was shown."
    )
    occurred_at = StrictDateTimeField(required=False, help_text="Defaults to now; never in the future.")

    def validate_notice_version(self, value: str) -> ConsentNotice:
        return OptInInputSerializer.validate_notice_version(self, value)  # type: ignore[arg-type]

    def validate_occurred_at(self, value: datetime) -> datetime:
        return _check_occurred_at(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("action") == "grant":
            missing = {name: ["A grant needs this field."] for name in ("phone", "purposes", "notice_version")
                       if not attrs.get(name)}
            if missing:
                raise serializers.ValidationError(missing)
        return attrs


class ConsentManagerReceiptSerializer(ConsentReceiptSerializer):
    artefact_id = serializers.CharField()
    action = serializers.CharField()
    consent_manager = serializers.CharField(help_text="The manager's registration id.")
    replayed = serializers.BooleanField(help_text="True when this artefact and action were recorded before.")


class ArtefactSerializer(serializers.Serializer[Any]):
    artefact_id = serializers.CharField()
    status = serializers.ChoiceField(choices=[("active", "active"), ("withdrawn", "withdrawn")])
    purposes = serializers.ListField(child=serializers.CharField())
    events = HistoryItemSerializer(many=True)
    contact = serializers.CharField()
    phone = serializers.CharField(help_text="Masked.")
    notice_version = serializers.CharField(allow_blank=True)
    granted_at = UtcDateTimeField(allow_null=True)
    withdrawn_at = UtcDateTimeField(allow_null=True)
