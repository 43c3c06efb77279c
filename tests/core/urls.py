"""A URLconf with a POST endpoint for the API-foundation tests (the real app URLs plus one)."""

from __future__ import annotations

from typing import Any

from django.urls import include, path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from pandorakart_wa.core.models import ApiScope


@extend_schema(exclude=True)
class EchoApi(APIView):
    class InputSerializer(serializers.Serializer[Any]):
        name = serializers.CharField(max_length=10)
        count = serializers.IntegerField(min_value=1)

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(data.validated_data, status=201)


@extend_schema(exclude=True)
class ConsentScopedApi(APIView):
    required_scope = ApiScope.CONSENT

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


@extend_schema(exclude=True)
class BoomApi(APIView):
    def get(self, request: Request) -> Response:
        raise RuntimeError("boom: +919227021270")


urlpatterns = [
    path("api/v1/test/echo", EchoApi.as_view()),
    path("api/v1/test/boom", BoomApi.as_view()),
    path("api/v1/test/consent-scoped", ConsentScopedApi.as_view()),
    path("", include("pandorakart_wa.urls")),
]

handler400 = "pandorakart_wa.core.api.errors.json_400"
handler403 = "pandorakart_wa.core.api.errors.json_403"
handler404 = "pandorakart_wa.core.api.errors.json_404"
handler500 = "pandorakart_wa.core.api.errors.json_500"
