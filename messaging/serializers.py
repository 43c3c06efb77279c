"""Serializers of the messaging API. Templates part."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from pandorakart_wa.core.api.fields import StrictCharField, UtcDateTimeField


class StorefrontTemplateSerializer(serializers.Serializer[Any]):
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
BATCH_MAX_MESSAGES = 1000  # API.md: POST /api/v1/messages/batch takes at most 1,000 messages


class MessageInputSerializer(serializers.Serializer[Any]):
    # Strict types (pandorakart_wa.core.api.fields): `"to": 9198...` or `"variables": [1]` is a 400 naming
    # the field, not a number quietly read as text. The number itself is parsed once, by the intake.
    to = StrictCharField(max_length=64, help_text="A string: E.164, national Indian format or wa_id digits.")
    template = StrictCharField(max_length=512, required=False)
    language = StrictCharField(max_length=16, required=False, default="en")
    variables = serializers.ListField(child=StrictCharField(max_length=1024, allow_blank=True), required=False,
                                      default=list, max_length=100)
    text = StrictCharField(max_length=4096, required=False, trim_whitespace=False)

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


class MessageBatchItemSerializer(MessageInputSerializer):
    idempotency_key = StrictCharField(
        max_length=IDEMPOTENCY_KEY_MAX, required=False,
        help_text="As the Idempotency-Key header of POST /api/v1/messages, for this message alone.",
    )


class MessageBatchInputSerializer(serializers.Serializer[Any]):
    messages = MessageBatchItemSerializer(many=True, help_text=f"1 to {BATCH_MAX_MESSAGES} messages, each judged alone.")


class MessageBatchResultSerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField(help_text="The message's position in `messages`.")
    status = serializers.IntegerField(help_text="202 queued, 400 invalid, 409 idempotency_conflict, 422 a policy code: "
                                      "what POST /api/v1/messages would have answered for it alone.")
    id = serializers.CharField(required=False, help_text="The message (202).")
    code = serializers.CharField(required=False, help_text="invalid, idempotency_conflict or a policy code (not 202).")
    detail = serializers.CharField(required=False)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        # named `fields` as in every 400 of the API (a declared attribute would shadow Serializer.fields)
        fields["fields"] = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                                 required=False, help_text="400: the fields at fault and why.")
        return fields


class MessageBatchResponseSerializer(serializers.Serializer[Any]):
    results = MessageBatchResultSerializer(many=True)


_ITEM_KEYS = {"to": 64, "template": 512, "language": 16}


def message_values(item: Any, *, batch: bool = False) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """A message's validated values, or its field errors, exactly as MessageInputSerializer
    (MessageBatchItemSerializer for a batch item) judges it. Well-formed items take a plain
    Python path (a 1,000-message batch spent a third of a second in the serializer); anything
    else goes through the serializer, so every error reads as DRF words it."""
    fast = _fast_values(item, batch)
    if fast is not None:
        return fast, {}
    serializer = (MessageBatchItemSerializer if batch else MessageInputSerializer)(data=item)
    if serializer.is_valid():
        return dict(serializer.validated_data), {}
    errors = serializer.errors
    return None, {str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in errors.items()}


def _fast_values(item: Any, batch: bool) -> dict[str, Any] | None:
    """The values of an item that is certainly valid, or None (then the serializer decides)."""
    if type(item) is not dict:
        return None
    values: dict[str, Any] = {"language": "en", "variables": []}
    for name, limit in _ITEM_KEYS.items():
        if name in item:
            raw = item[name]
            if type(raw) is not str or not (value := raw.strip()) or len(value) > limit or "\x00" in value:
                return None
            values[name] = value
    if "to" not in values:
        return None
    if "variables" in item:
        raw_list = item["variables"]
        if type(raw_list) is not list or len(raw_list) > 100:
            return None
        variables = []
        for raw in raw_list:
            if type(raw) is not str or len(value := raw.strip()) > 1024 or "\x00" in value:
                return None
            variables.append(value)
        values["variables"] = variables
    if "text" in item:
        text = item["text"]
        if type(text) is not str or not text or len(text) > 4096 or values["variables"] or "\x00" in text:
            return None
        values["text"] = text
    if ("template" in values) == ("text" in values):
        return None
    if batch and "idempotency_key" in item:
        key = item["idempotency_key"]
        if type(key) is not str or not (key := key.strip()) or len(key) > IDEMPOTENCY_KEY_MAX or "\x00" in key:
            return None
        values["idempotency_key"] = key
    return values


class MessageErrorSerializer(serializers.Serializer[Any]):
    code = serializers.IntegerField(allow_null=True)
    title = serializers.CharField()


class MessageEventSerializer(serializers.Serializer[Any]):
    status = serializers.CharField()
    at = UtcDateTimeField()


class MessageAcceptedSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    status = serializers.CharField()
    to = serializers.CharField(help_text="Masked phone number.")
    template = serializers.CharField(allow_null=True)
    purpose = serializers.CharField()
    created_at = UtcDateTimeField()


class MessageDetailSerializer(MessageAcceptedSerializer):
    wamid = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_blank=True, help_text="Policy code when suppressed or deferred.")
    error = MessageErrorSerializer(allow_null=True)
    events = MessageEventSerializer(many=True)
