"""Messaging API views: GET /api/v1/templates, POST /api/v1/messages and /messages/batch, GET
/api/v1/messages/{id}."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging.models import Message, MessageStatus
from messaging.outbox import (
    Accepted,
    ItemOutcome,
    MessageInvalid,
    MessageRefused,
    MessageRequest,
    messages_accept,
)
from messaging.selectors import templates_for_storefront
from messaging.serializers import (
    BATCH_MAX_MESSAGES,
    IDEMPOTENCY_KEY_MAX,
    MessageAcceptedSerializer,
    MessageBatchInputSerializer,
    MessageBatchResponseSerializer,
    MessageDetailSerializer,
    MessageInputSerializer,
    StorefrontTemplateSerializer,
    message_values,
)
from pandorakart_wa.core.api.errors import invalid
from pandorakart_wa.core.errors import ApplicationError
from pandorakart_wa.core.models import ApiScope, StorefrontApiKey
from pandorakart_wa.core.phones import mask_phone


class TemplateListApi(APIView):
    required_scope = ApiScope.TEMPLATES

    @extend_schema(
        operation_id="templates_list",
        summary="The message templates the storefront may send",
        description="Every template that has a revision at Meta, with `usable` telling whether a send "
        "of it would pass the template gate now.",
        responses={200: StorefrontTemplateSerializer(many=True)},
        tags=["templates"],
    )
    def get(self, request: Request) -> Response:
        templates = [asdict(t) for t in templates_for_storefront()]
        return Response(StorefrontTemplateSerializer(templates, many=True).data)


# --- Messages (API.md, Messages) -----------------------------------------------------------


def message_document(message: Message, *, events: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(message.id),
        "status": message.status,
        "to": mask_phone(message.contact.phone or "") if message.contact.phone else "(erased)",
        "template": message.template.name if message.template is not None else None,
        "purpose": message.purpose,
        "created_at": message.created_at,
    }
    if events:
        body.update(
            wamid=message.wamid,
            reason=message.reason,
            error={"code": message.error_code, "title": message.error_title}
            if message.status == MessageStatus.FAILED
            else None,
            events=[{"status": e.status, "at": e.at} for e in message.events.all()],
        )
    return body


def _utc_iso(value: dt.datetime) -> str:
    """As DRF's DateTimeField writes it in the API's UTC: ISO 8601 with Z."""
    text = value.astimezone(dt.UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _api_key(request: Request) -> StorefrontApiKey | None:
    return request.auth if isinstance(request.auth, StorefrontApiKey) else None


def _created_by(api_key: StorefrontApiKey | None) -> str:
    return f"api-key:{api_key.name if api_key else ''}"


class MessageSendApi(APIView):
    required_scope = ApiScope.MESSAGES

    @extend_schema(
        operation_id="messages_send",
        summary="Queue a template message, or a free-form text inside the 24-hour window",
        request=MessageInputSerializer,
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
                             description="≤ 255 characters; the same key and body again returns the same message."),
        ],
        responses={
            202: MessageAcceptedSerializer,
            400: OpenApiResponse(description="invalid: `fields` names to, template, variables or text"),
            409: OpenApiResponse(description="idempotency_conflict: same key, different body"),
            422: OpenApiResponse(description="a policy code: consent_missing, opted_out, contact_blocked, "
                                 "contact_erased, template_not_approved, template_paused, frequency_capped, "
                                 "outside_service_window"),
        },
        tags=["messages"],
    )
    def post(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key", "")
        if len(key) > IDEMPOTENCY_KEY_MAX:
            raise invalid({"Idempotency-Key": f"At most {IDEMPOTENCY_KEY_MAX} characters."})
        values, errors = message_values(request.data)
        if values is None:
            raise invalid(dict(errors))
        api_key = _api_key(request)
        (outcome,) = messages_accept(
            requests=[_message_request(values, key, request.data)], api_key=api_key, created_by=_created_by(api_key)
        )
        if isinstance(outcome, ApplicationError):
            raise outcome  # 400 naming the fields, 409 or 422 (the API's exception handler)
        # the MessageAcceptedSerializer shape, written directly (serialising it cost 0.3 ms a request)
        document = dict(outcome.summary) if outcome.summary is not None else message_document(outcome.message)
        document["created_at"] = _utc_iso(document["created_at"])
        return Response(document, status=202)


def _message_request(values: dict[str, Any], idempotency_key: str, body: Any) -> MessageRequest:
    return MessageRequest(
        to=values["to"],
        template=values.get("template"),
        language=values.get("language") or "en",
        variables=tuple(values.get("variables") or ()),
        text=values.get("text"),
        idempotency_key=idempotency_key,
        body=dict(body) if isinstance(body, dict) else None,
    )


def _batch_result(index: int, outcome: ItemOutcome) -> dict[str, Any]:
    if isinstance(outcome, Accepted):
        return {"index": index, "status": 202, "id": str(outcome.message_id)}
    if isinstance(outcome, MessageInvalid):
        return {"index": index, "status": 400, "code": "invalid", "detail": "Some fields are missing or wrong.",
                "fields": {k: [v] for k, v in outcome.fields.items()}}
    if isinstance(outcome, MessageRefused):
        return {"index": index, "status": 422, "code": outcome.code, "detail": outcome.detail}
    return {"index": index, "status": outcome.status, "code": outcome.code, "detail": str(outcome)}


class MessageBatchApi(APIView):
    required_scope = ApiScope.MESSAGES

    @extend_schema(
        operation_id="messages_send_batch",
        summary=f"Queue up to {BATCH_MAX_MESSAGES} messages in one request, each accepted or refused on its own",
        description="Each message is judged exactly as `POST /api/v1/messages` would judge it alone (its "
        "`idempotency_key` stands for that endpoint's Idempotency-Key header); one bad message never refuses "
        "the others. The accepted ones are written in one transaction. `results` has one entry per message, "
        "in order.",
        request=MessageBatchInputSerializer,
        responses={
            200: MessageBatchResponseSerializer,
            400: OpenApiResponse(description="invalid: `messages` is missing, empty, not a list or longer than "
                                 f"{BATCH_MAX_MESSAGES}"),
        },
        tags=["messages"],
    )
    def post(self, request: Request) -> Response:
        items = request.data.get("messages") if isinstance(request.data, dict) else None
        if not isinstance(items, list) or not items:
            raise invalid({"messages": f"A list of 1 to {BATCH_MAX_MESSAGES} messages is required."})
        if len(items) > BATCH_MAX_MESSAGES:
            raise invalid({"messages": f"At most {BATCH_MAX_MESSAGES} messages per request; {len(items)} were given."})
        results: list[dict[str, Any] | None] = [None] * len(items)
        requests: list[MessageRequest] = []
        positions: list[int] = []
        for index, item in enumerate(items):
            values, errors = message_values(item, batch=True)
            if values is None:
                results[index] = {"index": index, "status": 400, "code": "invalid",
                                  "detail": "Some fields are missing or wrong.", "fields": errors}
                continue
            body = {k: v for k, v in item.items() if k != "idempotency_key"}
            requests.append(_message_request(values, values.get("idempotency_key", ""), body))
            positions.append(index)
        api_key = _api_key(request)
        outcomes = messages_accept(requests=requests, api_key=api_key, created_by=_created_by(api_key))
        for index, outcome in zip(positions, outcomes, strict=True):
            results[index] = _batch_result(index, outcome)
        return Response({"results": results}, status=200)  # (the shape of MessageBatchResponseSerializer)


class MessageDetailApi(APIView):
    required_scope = ApiScope.MESSAGES

    @extend_schema(
        operation_id="messages_retrieve",
        summary="A message with its status events",
        responses={200: MessageDetailSerializer, 404: OpenApiResponse(description="not_found")},
        tags=["messages"],
    )
    def get(self, request: Request, message_id: str) -> Response:
        try:
            uuid.UUID(message_id)
        except ValueError:
            raise exceptions.NotFound("No message with this id.") from None
        message = (
            Message.objects.select_related("contact", "template").prefetch_related("events")
            .filter(pk=message_id).first()
        )
        if message is None:
            raise exceptions.NotFound("No message with this id.")
        return Response(MessageDetailSerializer(message_document(message, events=True)).data)
