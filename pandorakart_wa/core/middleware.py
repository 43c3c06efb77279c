"""Request-level middleware: correlation ids and body size limits."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from pandorakart_wa.core.correlation import new_correlation_id, set_correlation_id

CORRELATION_HEADER = "X-Correlation-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class CorrelationIdMiddleware:
    """Take the caller's X-Correlation-ID (or make one), expose it to logs and the audit log,
    and echo it on the response so a storefront error report can be traced."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get(CORRELATION_HEADER, "")
        cid = supplied if _SAFE_ID.match(supplied) else new_correlation_id()
        request.correlation_id = cid  # type: ignore[attr-defined]
        set_correlation_id(cid)
        try:
            response = self.get_response(request)
        finally:
            set_correlation_id(None)
        response[CORRELATION_HEADER] = cid
        return response


class BodySizeLimitMiddleware:
    """413 before the body is read: 1 MiB for the API, 3 MiB for Meta's webhooks (API.md)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/webhooks/"):
            limit = settings.WEBHOOK_MAX_BODY_BYTES
        elif request.path.startswith("/api/"):
            limit = settings.API_MAX_BODY_BYTES
        else:  # staff pages: uploads are bounded by Django's own settings
            return self.get_response(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return too_large_response(limit)
        return self.get_response(request)


def too_large_response(limit: int) -> JsonResponse:
    return JsonResponse(
        {"code": "too_large", "detail": f"The request body is larger than the limit of {limit} bytes."},
        status=413,
    )


class ApiTimesInUtcMiddleware:
    """API.md: times in responses are UTC. Staff screens show India time (TIME_ZONE); the API
    and the webhooks answer in UTC whatever the serializer used."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(("/api/", "/webhooks/")):
            with timezone.override(datetime.UTC):
                return self.get_response(request)
        return self.get_response(request)
