"""The one gateway to Meta's Graph API. Select the transport with settings.WHATSAPP_BACKEND."""

from __future__ import annotations

import os
import threading

from django.conf import settings
from django.utils.module_loading import import_string

from pandorakart_wa.whatsapp.base import BaseBackend

_instances: dict[str, BaseBackend] = {}
_lock = threading.Lock()


def get_backend() -> BaseBackend:
    """The configured backend, one instance per process (it owns the pooled HTTP session)."""
    path = settings.WHATSAPP_BACKEND
    backend = _instances.get(path)
    if backend is None:
        with _lock:
            backend = _instances.get(path)
            if backend is None:
                backend = import_string(path)()
                _instances[path] = backend
    return backend


def reset_backend() -> None:
    """Forget (and close) the cached instances: tests that change settings.WHATSAPP_*, and
    after a fork (a child must not share its parent's keep-alive sockets)."""
    with _lock:
        backends = list(_instances.values())
        _instances.clear()
    for backend in backends:
        backend.close()


def _forget_in_child() -> None:
    # A forked child (Celery prefork, gunicorn) builds its own backend: the parent's pooled
    # sockets must not be shared. The child's copies are dropped, not closed cleanly.
    global _lock
    _instances.clear()
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)
