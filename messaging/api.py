"""Messaging API views: GET /api/v1/templates, POST /api/v1/messages, GET /api/v1/messages/{id}."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging.models import Message, MessageStatus
from messaging.outbox import IdempotencyConflict, MessageInvalid, MessageRefused, message_accept
from messaging.selectors import templates_for_storefront
from messaging.serializers import (
    IDEMPOTENCY_KEY_MAX,
    MessageAcceptedSerializer,
    MessageDetailSerializer,
    MessageInputSerializer,
    StorefrontTemplateSerializer,
)
from pandorakart_wa.api.errors import Conflict, PolicyRefused, invalid
from pandorakart_wa.models import ApiScope, StorefrontApiKey
from pandorakart_wa.phones import mask_phone


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
        data = MessageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        api_key = request.auth if isinstance(request.auth, StorefrontApiKey) else None
        try:
            accepted = message_accept(
                to=values["to"],
                template=values.get("template"),
                language=values.get("language") or "en",
                variables=values.get("variables") or [],
                text=values.get("text"),
                idempotency_key=key,
                api_key=api_key,
                created_by=f"api-key:{api_key.name if api_key else ''}",
                body=dict(request.data) if isinstance(request.data, dict) else None,
            )
        except MessageInvalid as exc:
            raise invalid(dict(exc.fields)) from exc
        except MessageRefused as exc:
            raise PolicyRefused(exc.code, exc.detail) from exc
        except IdempotencyConflict as exc:
            raise Conflict("idempotency_conflict", str(exc)) from exc
        message = Message.objects.select_related("contact", "template").get(pk=accepted.message.pk)
        return Response(MessageAcceptedSerializer(message_document(message)).data, status=202)


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
