"""Project-level API views."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class PingApi(APIView):
    """GET /api/v1/ping: is my key valid, is the service up (and a baseline for benchmarks)."""

    @extend_schema(
        responses=inline_serializer(
            "Ping", {"status": serializers.CharField(), "key": serializers.CharField(), "time": serializers.DateTimeField()}
        )
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok", "key": getattr(request.auth, "name", ""), "time": timezone.now()})
