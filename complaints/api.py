"""Complaints API: POST /api/v1/complaints, GET /api/v1/complaints/{reference} (API.md)."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from complaints.selectors import complaint_by_reference, public_document
from complaints.serializers import ComplaintCreatedSerializer, ComplaintDetailSerializer, ComplaintInputSerializer
from complaints.services.intake import complaint_create
from pandorakart_wa.core.api.errors import invalid
from pandorakart_wa.core.models import ApiScope

_ERRORS = {
    401: OpenApiResponse(description="not_authenticated"),
    403: OpenApiResponse(description="permission_denied: the key lacks the complaints scope"),
}


class ComplaintCreateApi(APIView):
    required_scope = ApiScope.COMPLAINTS

    @extend_schema(
        operation_id="complaints_create",
        summary="Record a customer's complaint (website, email, phone or WhatsApp)",
        description="Anonymous complaints (no phone) are allowed. The customer is acknowledged on WhatsApp when "
        "their number can receive it; otherwise staff acknowledge on the complaint's channel.",
        request=ComplaintInputSerializer,
        responses={
            201: ComplaintCreatedSerializer,
            400: OpenApiResponse(description="invalid: `fields` names channel, category, description, phone or "
                                 "message_id"),
            **_ERRORS,
        },
        tags=["complaints"],
    )
    def post(self, request: Request) -> Response:
        data = ComplaintInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        actor = request.user  # the API key's audit user
        if not isinstance(actor, AbstractBaseUser):
            raise exceptions.NotAuthenticated()
        try:
            complaint = complaint_create(
                channel=values["channel"],
                category=values["category"],
                description=values["description"],
                phone=values.get("phone") or None,
                message_id=values.get("message_id"),
                customer_name=values.get("name") or "",
                actor=actor,
            )
        except ValidationError as exc:
            raise invalid({k: [str(m) for m in v] for k, v in exc.message_dict.items()}) from exc
        body = public_document(complaint)
        return Response(ComplaintCreatedSerializer(body).data, status=201)


class ComplaintDetailApi(APIView):
    required_scope = ApiScope.COMPLAINTS

    @extend_schema(
        operation_id="complaints_retrieve",
        summary="A complaint's status, clocks and resolution (no staff notes)",
        responses={200: ComplaintDetailSerializer, 404: OpenApiResponse(description="not_found"), **_ERRORS},
        tags=["complaints"],
    )
    def get(self, request: Request, reference: str) -> Response:
        complaint = complaint_by_reference(reference)
        if complaint is None:
            raise exceptions.NotFound("No complaint has this reference.")
        return Response(ComplaintDetailSerializer(public_document(complaint)).data)
