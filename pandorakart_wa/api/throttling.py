"""Per-key request rate limit (429 with Retry-After)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from pandorakart_wa.models import StorefrontApiKey

if TYPE_CHECKING:
    from rest_framework.views import APIView


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if isinstance(request.auth, StorefrontApiKey):
            ident = request.auth.pk
        else:  # unauthenticated calls are refused anyway; throttle them by address
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
