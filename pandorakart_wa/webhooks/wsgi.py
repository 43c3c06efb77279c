"""Meta's webhooks get a WSGI handler of their own, with only the middleware they need.

Meta posts up to several hundred webhooks a second (three statuses per message sent, plus the
customers' messages), and each one passed through the staff side's middleware: sessions,
authentication, CSRF, two-factor, the staff idle timeout, messages, clickjacking headers, the
audit-log actor and the lockout checks, none of which a signed machine-to-machine POST uses.
Requests under /webhooks/ are served by a second Django handler (same settings, URLs, signals,
error handling and database connections) whose middleware is WEBHOOK_MIDDLEWARE: correlation
ids, the body size limit, Django's security middleware and the Prometheus request metrics.
Everything else is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

WEBHOOK_PREFIX = "/webhooks/"
WEBHOOK_MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",  # webhook latency and codes in /metrics
    "pandorakart_wa.core.middleware.CorrelationIdMiddleware",
    "pandorakart_wa.core.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]


class WebhookHandler(WSGIHandler):
    """Django's WSGI handler with WEBHOOK_MIDDLEWARE instead of settings.MIDDLEWARE."""

    def load_middleware(self, is_async: bool = False) -> None:
        # BaseHandler reads settings.MIDDLEWARE; swap it for the duration of the load (once, at
        # start-up, before any request is served).
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = WEBHOOK_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


def with_webhook_handler(application: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """The project's WSGI application, with /webhooks/ served by WebhookHandler."""
    webhooks = WebhookHandler()

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(WEBHOOK_PREFIX):
            return webhooks(environ, start_response)
        return application(environ, start_response)

    return dispatch
