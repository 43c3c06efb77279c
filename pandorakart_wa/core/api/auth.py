"""API-key authentication for /api/v1/ (header `Authorization: Api-Key <key>`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from pandorakart_wa.core.audit import bind_actor
from pandorakart_wa.core.models import StorefrontApiKey

KEYWORD = "Api-Key"

if TYPE_CHECKING:
    from rest_framework.views import APIView


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`request.auth` is the StorefrontApiKey; `request.user` its audit actor (never staff)."""

    def authenticate(self, request: Request) -> tuple[Any, StorefrontApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        keyword, _, key = header.partition(" ")
        if keyword != KEYWORD or not key.strip():
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Api-Key <key>'.")
        key = key.strip()
        prefix = key.partition(".")[0]
        api_key = (
            StorefrontApiKey.objects.get_usable_keys().select_related("actor").filter(prefix=prefix).first()
        )
        if api_key is None or not api_key.is_valid(key):
            raise exceptions.AuthenticationFailed("The API key is not valid, revoked or expired.")
        bind_actor(api_key.actor)
        return api_key.actor, api_key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class HasApiKey(permissions.BasePermission):
    """Every /api/v1/ view needs a key; a view's `required_scope` must be among its scopes."""

    message = "This API key may not use this endpoint."

    def has_permission(self, request: Request, view: APIView) -> bool:
        api_key = request.auth
        if not isinstance(api_key, StorefrontApiKey):
            raise exceptions.NotAuthenticated("An API key is required: send 'Authorization: Api-Key <key>'.")
        scope = getattr(view, "required_scope", None)
        return scope is None or api_key.has_scope(scope)
