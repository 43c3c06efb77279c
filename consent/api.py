"""The storefront's consent and privacy endpoints (API.md, Consent)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consent import selectors
from consent.hooks import privacy_exporters
from consent.models import ConsentState, Contact
from consent.preferences import preference_link_issue
from consent.serializers import (
    ConsentReceiptSerializer,
    ContactStateSerializer,
    ErasureInputSerializer,
    ErasureResponseSerializer,
    ExportQuerySerializer,
    ExportResponseSerializer,
    LookupInputSerializer,
    NoticeQuerySerializer,
    NoticeSerializer,
    OptInInputSerializer,
    OptOutInputSerializer,
    PreferenceLinkInputSerializer,
    PreferenceLinkSerializer,
    contact_state_document,
)
from consent.services.erasure import consent_erase
from consent.services.optin import consent_opt_in, consent_opt_out
from consent.types import Actor, ConsentReceipt
from pandorakart_wa.core.api.errors import invalid
from pandorakart_wa.core.models import ApiScope
from pandorakart_wa.core.phones import InvalidPhoneNumber, mask_phone, normalize_phone

API_ERRORS = {
    400: OpenApiResponse(description="invalid: a field is missing or bad (`fields` names each one)"),
    401: OpenApiResponse(description="not_authenticated"),
    403: OpenApiResponse(description="permission_denied: the key lacks the scope"),
}


def receipt_document(receipt: ConsentReceipt, phone: str) -> dict[str, Any]:
    contact = receipt.contact
    if receipt.created:
        # First seen in this call: its whole history and state are the events just written.
        history = receipt.events
        states = {
            e.purpose: ConsentState(purpose=e.purpose, status=selectors.STATUS_AFTER[e.action], since=e.occurred_at,
                                    source=e.source, notice_version=e.notice_version)
            for e in receipt.events
        }
    else:
        history = list(selectors.contact_history(contact))
        states = selectors.contact_states(contact)
    body = contact_state_document(contact, states=states, history=history, phone=phone)
    body["receipt"] = [e.public_id for e in receipt.events]
    return body


class ConsentOptInApi(APIView):
    required_scope = ApiScope.CONSENT

    @extend_schema(
        operation_id="consent_opt_in",
        request=OptInInputSerializer,
        responses={201: ConsentReceiptSerializer, 422: OpenApiResponse(description="contact_erased (import)"),
                   **API_ERRORS},
        summary="Record explicit consent to one or more purposes",
    )
    def post(self, request: Request) -> Response:
        data = OptInInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        receipt = consent_opt_in(
            phone=values["phone"],
            purposes=values["purposes"],
            notice=values["notice_version"],
            source=values["source"],
            evidence=values.get("evidence"),
            occurred_at=values.get("occurred_at"),
            actor=Actor.api_key(request.auth),
        )
        return Response(receipt_document(receipt, values["phone"]), status=201)


class ConsentOptOutApi(APIView):
    required_scope = ApiScope.CONSENT

    @extend_schema(
        operation_id="consent_opt_out",
        request=OptOutInputSerializer,
        responses={200: ConsentReceiptSerializer, **API_ERRORS},
        summary="Withdraw consent (every purpose when `purposes` is omitted); never fails for a valid phone",
    )
    def post(self, request: Request) -> Response:
        data = OptOutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        receipt = consent_opt_out(
            phone=values["phone"],
            purposes=values.get("purposes"),
            source=values["source"],
            reason=values.get("reason", ""),
            evidence=values.get("evidence"),
            occurred_at=values.get("occurred_at"),
            actor=Actor.api_key(request.auth),
        )
        return Response(receipt_document(receipt, values["phone"]), status=200)


def _phone_or_400(raw: str) -> str:
    try:
        return normalize_phone(raw)
    except InvalidPhoneNumber as exc:
        raise invalid({"phone": str(exc)}) from exc


def _contact_or_404(e164: str) -> Contact:
    contact = selectors.contact_for_phone(e164)
    if contact is None:
        raise exceptions.NotFound(f"{mask_phone(e164)} was never seen.")
    return contact


class ConsentStateApi(APIView):
    required_scope = ApiScope.CONSENT

    @extend_schema(
        operation_id="consent_state",
        responses={200: ContactStateSerializer, 404: OpenApiResponse(description="not_found: never seen"), **API_ERRORS},
        summary="A number's consent per purpose and its history",
    )
    def get(self, request: Request, phone: str) -> Response:
        e164 = _phone_or_400(phone)
        contact = _contact_or_404(e164)
        document = contact_state_document(
            contact,
            states=selectors.contact_states(contact),
            history=list(selectors.contact_history(contact)),
            phone=e164,
        )
        return Response(document)


class ConsentLookupApi(APIView):
    """The state of a number without the number in the URL (and so in no access log, proxy log
    or browser history): the same answer as GET /api/v1/consents/{phone}."""

    required_scope = ApiScope.CONSENT

    @extend_schema(
        operation_id="consent_lookup",
        request=LookupInputSerializer,
        responses={200: ContactStateSerializer, 404: OpenApiResponse(description="not_found: never seen"), **API_ERRORS},
        summary="A number's consent per purpose and its history (the number in the body, not the URL)",
    )
    def post(self, request: Request) -> Response:
        data = LookupInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        e164 = data.validated_data["phone"]
        contact = _contact_or_404(e164)
        document = contact_state_document(
            contact,
            states=selectors.contact_states(contact),
            history=list(selectors.contact_history(contact)),
            phone=e164,
        )
        return Response(document)


class NoticeCurrentApi(APIView):
    required_scope = ApiScope.CONSENT

    @extend_schema(
        operation_id="notice_current",
        parameters=[OpenApiParameter("language", OpenApiTypes.STR, description="ISO 639-1, default en")],
        responses={200: NoticeSerializer, 404: OpenApiResponse(description="not_found: none in that language"),
                   **API_ERRORS},
        summary="The consent notice to show beside the opt-in control",
    )
    def get(self, request: Request) -> Response:
        query = NoticeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        language = query.validated_data["language"]
        notice = selectors.notice_current(language=language)
        if notice is None:
            raise exceptions.NotFound(f"No published consent notice in language {language!r}.")
        return Response(NoticeSerializer(notice).data)


class PrivacyErasureApi(APIView):
    required_scope = ApiScope.PRIVACY

    @extend_schema(
        operation_id="privacy_erasure",
        request=ErasureInputSerializer,
        responses={202: ErasureResponseSerializer, **API_ERRORS},
        summary="Erase a customer's personal data; the number stays suppressed for every purpose",
    )
    def post(self, request: Request) -> Response:
        data = ErasureInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        e164 = data.validated_data["phone"]
        receipt = consent_erase(phone=e164, actor=Actor.api_key(request.auth))
        contact = receipt.contact
        body = {
            "contact": contact.public_id,
            "phone": mask_phone(e164),
            "erased": contact.erased,
            "erased_at": contact.erased_at,
            "receipt": [e.public_id for e in receipt.events],
        }
        return Response(ErasureResponseSerializer(body).data, status=202)


def privacy_export(contact: Contact) -> dict[str, Any]:
    """Everything held about a contact: consent's part, then each exporter in
    consent.hooks.privacy_exporters (connected by wiring.py), each called as `exporter(contact=contact)`
    under its section name; consent cannot import the apps above it."""
    body: dict[str, Any] = {"contact": contact.public_id, "phone": contact.masked_phone}
    for name, exporter in privacy_exporters.items():
        body[name] = exporter(contact=contact)
    return body


class PrivacyExportApi(APIView):
    required_scope = ApiScope.PRIVACY

    @extend_schema(
        operation_id="privacy_export",
        parameters=[ExportQuerySerializer],
        responses={200: ExportResponseSerializer, 404: OpenApiResponse(description="not_found: never seen"),
                   **API_ERRORS},
        summary="All the service holds about a customer (consent history, messages, complaints)",
    )
    def get(self, request: Request) -> Response:
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return self._export(query.validated_data["phone"])

    @extend_schema(
        operation_id="privacy_export_post",
        request=LookupInputSerializer,
        responses={200: ExportResponseSerializer, 404: OpenApiResponse(description="not_found: never seen"),
                   **API_ERRORS},
        summary="The same export, with the number in the body instead of the URL",
    )
    def post(self, request: Request) -> Response:
        data = LookupInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._export(data.validated_data["phone"])

    def _export(self, e164: str) -> Response:
        contact = _contact_or_404(e164)
        body = privacy_export(contact)
        body["phone"] = body["phone"] or mask_phone(e164)
        return Response(body)  # DRF's JSON encoder renders the exporters' datetimes



class PreferenceLinkApi(APIView):
    """A signed link to the customer's preference centre, for the storefront to show or send."""

    required_scope = ApiScope.CONSENT

    @extend_schema(
        operation_id="preference_link",
        request=PreferenceLinkInputSerializer,
        responses={201: PreferenceLinkSerializer, 404: OpenApiResponse(description="not_found: never seen"),
                   422: OpenApiResponse(description="contact_erased"), **API_ERRORS},
        summary="A signed, expiring link to the customer's own preference centre",
    )
    def post(self, request: Request) -> Response:
        data = PreferenceLinkInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        contact = _contact_or_404(data.validated_data["phone"])
        link = preference_link_issue(contact=contact, language=data.validated_data["language"])
        return Response(PreferenceLinkSerializer({"url": link.url, "expires_at": link.expires_at}).data, status=201)
