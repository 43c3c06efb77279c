"""A registered consent manager's endpoints (API.md "Consent managers"): its key is bound to it,
so everything it posts or reads is its own."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.api import API_ERRORS, receipt_document
from consent.managers import consent_artefact_record, consent_artefact_state, consent_manager_for_key
from consent.models import ConsentManager
from consent.serializers import (
    ArtefactSerializer,
    ConsentManagerEventInputSerializer,
    ConsentManagerReceiptSerializer,
    history_item,
)
from pandorakart_wa.core.models import ApiScope, StorefrontApiKey


def _manager(request: Request) -> ConsentManager:
    """The registered, active consent manager this request's key is bound to (else 403)."""
    api_key = request.auth
    if not isinstance(api_key, StorefrontApiKey):
        raise exceptions.NotAuthenticated("An API key is required: send 'Authorization: Api-Key <key>'.")
    manager = consent_manager_for_key(api_key)
    if manager is None:
        raise exceptions.PermissionDenied("This API key is not bound to a registered consent manager.")
    if not manager.active:
        raise exceptions.PermissionDenied(f"Consent manager {manager.registration_id} is not active.")
    return manager


def _key_label(request: Request) -> str:
    api_key = request.auth
    return f"{api_key.prefix} {api_key.name}" if isinstance(api_key, StorefrontApiKey) else ""


class ConsentManagerEventApi(APIView):
    required_scope = ApiScope.CONSENT_MANAGER

    @extend_schema(
        operation_id="consent_manager_event",
        request=ConsentManagerEventInputSerializer,
        responses={
            201: ConsentManagerReceiptSerializer,
            200: OpenApiResponse(ConsentManagerReceiptSerializer,
                                 description="The same artefact and action again: the first receipt, nothing written"),
            422: OpenApiResponse(description="artefact_withdrawn: a grant of an artefact already withdrawn"),
            **API_ERRORS,
        },
        summary="A consent manager's grant or withdrawal of one consent artefact (withdrawal in force on answer)",
    )
    def post(self, request: Request) -> Response:
        manager = _manager(request)
        data = ConsentManagerEventInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        outcome = consent_artefact_record(
            manager=manager, artefact_id=values["artefact_id"], action=values["action"],
            phone=values.get("phone") or None, purposes=values.get("purposes"),
            notice=values.get("notice_version"), occurred_at=values.get("occurred_at"),
            key_label=_key_label(request),
        )  # a refusal (ConsentError, ArtefactWithdrawn 422) is answered by the API's exception handler
        # the service's transaction has committed: a withdrawal is in force before this answer
        body = receipt_document(outcome.receipt, outcome.receipt.contact.phone or values.get("phone") or "")
        body.update(artefact_id=outcome.action.artefact_id, action=outcome.action.action,
                    consent_manager=manager.registration_id, replayed=outcome.replayed)
        body["receipt"] = list(outcome.action.receipt)
        return Response(body, status=200 if outcome.replayed else 201)


class ConsentManagerArtefactApi(APIView):
    required_scope = ApiScope.CONSENT_MANAGER

    @extend_schema(
        operation_id="consent_manager_artefact",
        responses={200: ArtefactSerializer,
                   404: OpenApiResponse(description="not_found: unknown, or another manager's artefact"), **API_ERRORS},
        summary="One of this consent manager's artefacts: its status, purposes and ledger events",
    )
    def get(self, request: Request, artefact_id: str) -> Response:
        manager = _manager(request)
        state = consent_artefact_state(manager=manager, artefact_id=artefact_id)
        if state is None:
            raise exceptions.NotFound(f"No artefact {artefact_id} of consent manager {manager.registration_id}.")
        body = {
            "artefact_id": state.artefact_id,
            "status": state.status,
            "purposes": state.purposes,
            "events": [history_item(e) for e in state.events],
            "contact": state.contact.public_id,
            "phone": state.contact.masked_phone,
            "notice_version": state.notice_version,
            "granted_at": state.granted_at,
            "withdrawn_at": state.withdrawn_at,
        }
        return Response(ArtefactSerializer(body).data)

