"""API-key authentication for /api/v1/ (header `Authorization: Api-Key <key>`).

A key verified once is remembered by this process (by the SHA-256 of the key, never the key) for
API_KEY_CACHE_SECONDS, so a request costs no query for its key: the storefront's send path spent
a third of its web time looking its key up. What makes that safe is the keys' generation, a
counter in the cache that every change to a key row bumps when it commits (a revocation, an
expiry, a new scope: `keys_changed`, connected below); each request reads it (one cache round
trip, where the key's query was a SQL round trip and the ORM's work), and a remembered key whose
generation has moved is looked up again. The counter is shared through Redis (REDIS_URL, production); with the
in-process cache (the run command) other processes see a change within API_KEY_CACHE_SECONDS, as
every process does for a row changed behind Django's back (SQL by hand). The receivers below are
connected at start-up (the core app's ready() imports this module).
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from pandorakart_wa.core.audit import bind_actor
from pandorakart_wa.core.models import StorefrontApiKey

KEYWORD = "Api-Key"
GENERATION_KEY = "core:api-keys:generation"

if TYPE_CHECKING:
    from rest_framework.views import APIView

_verified: dict[str, tuple[StorefrontApiKey, int, float]] = {}  # sha256(key) -> (row, generation, when)
_verified_lock = threading.Lock()


def keys_generation() -> int:
    return int(cache.get(GENERATION_KEY) or 0)


def keys_changed(**_: Any) -> None:
    """A key row changed: every process looks its keys up again (after the commit)."""

    def bump() -> None:
        with _verified_lock:
            _verified.clear()
        try:
            cache.incr(GENERATION_KEY)
        except ValueError:
            if not cache.add(GENERATION_KEY, 1, timeout=None):
                cache.incr(GENERATION_KEY)

    bump()  # this process at once (its own transaction sees the change already)
    transaction.on_commit(bump)  # and every process once it commits (a look-up before would see the old row)


# Not business logic: cache invalidation, wherever a key row is written (services, admin, shell).
post_save.connect(keys_changed, sender=StorefrontApiKey, dispatch_uid="api-keys-changed-save")
post_delete.connect(keys_changed, sender=StorefrontApiKey, dispatch_uid="api-keys-changed-delete")


def _remembered(digest: str, generation: int) -> StorefrontApiKey | None:
    entry = _verified.get(digest)
    if entry is None:
        return None
    api_key, seen_generation, when = entry
    expired = api_key.expiry_date is not None and api_key.expiry_date <= timezone.now()
    if seen_generation != generation or expired or time.monotonic() - when > settings.API_KEY_CACHE_SECONDS:
        with _verified_lock:
            _verified.pop(digest, None)
        return None
    return api_key


def _verified_key(key: str) -> StorefrontApiKey:
    """The usable key row `key` names, its secret checked; AuthenticationFailed otherwise."""
    rows = StorefrontApiKey.objects.get_usable_keys().select_related("actor")
    api_key: StorefrontApiKey | None = rows.filter(prefix=key.partition(".")[0]).first()
    if api_key is None or not api_key.is_valid(key):
        raise exceptions.AuthenticationFailed("The API key is not valid, revoked or expired.")
    return api_key


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
        remember = settings.API_KEY_CACHE_SECONDS > 0
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest() if remember else ""
        generation = keys_generation() if remember else 0  # the cache round trip only when it can help
        api_key = _remembered(digest, generation) if remember else None
        if api_key is None:
            api_key = _verified_key(key)
            if remember:
                with _verified_lock:
                    _verified[digest] = (api_key, generation, time.monotonic())
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
