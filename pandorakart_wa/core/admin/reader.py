"""Who reads the admin page being rendered: the staff site (pandorakart_wa/backoffice/admin/site.py)
holds the request for the duration of an admin view, so a display method or a read-only field
can show a link the reader may not follow as plain text."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.http import HttpRequest

_admin_request: ContextVar[HttpRequest | None] = ContextVar("admin_request", default=None)


@contextmanager
def reading(request: HttpRequest) -> Iterator[None]:
    """While the block runs, `request` is the page's reader."""
    token = _admin_request.set(request)
    try:
        yield
    finally:
        _admin_request.reset(token)


def admin_reader() -> HttpRequest | None:
    """The request of the admin view being rendered, or None outside one."""
    return _admin_request.get()


def reader_may(permission: str) -> bool:
    """In an admin page's display method: may the person reading the page do `permission`? (A
    link to a list they cannot open is shown as text.) True outside an admin view."""
    request = _admin_request.get()
    return request is None or bool(request.user.has_perm(permission))
