"""Messaging API views. Templates part: GET /api/v1/templates."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging.selectors import templates_for_storefront
from messaging.serializers import StorefrontTemplateSerializer
from pandorakart_wa.models import ApiScope


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
