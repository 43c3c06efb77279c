"""The one gateway to Meta's Graph API. Select the transport with settings.WHATSAPP_BACKEND."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

from pandorakart_wa.whatsapp.base import BaseBackend


@lru_cache(maxsize=4)
def _backend_for(path: str) -> BaseBackend:
    backend: BaseBackend = import_string(path)()
    return backend


def get_backend() -> BaseBackend:
    """The configured backend, one instance per process (it owns the pooled HTTP session)."""
    return _backend_for(settings.WHATSAPP_BACKEND)


def reset_backend() -> None:
    """Forget the cached instance (tests that change settings.WHATSAPP_BACKEND)."""
    _backend_for.cache_clear()
