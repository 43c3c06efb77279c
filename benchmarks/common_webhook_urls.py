"""The service's URLs plus POST /__bench/ok and /webhooks/__bench/ok: a trivial 200 (reads the body,
touches nothing), behind the full middleware and behind the webhooks' own."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from pandorakart_wa.urls import handler400, handler403, handler404, handler500
from pandorakart_wa.urls import urlpatterns as service_urls

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


@csrf_exempt
def ok(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "bytes": len(request.body)})


# The same trivial view under /webhooks/: served by the webhooks' own handler and middleware
# (pandorakart_wa/webhooks/wsgi.py), the like-for-like baseline of the webhook endpoint.
urlpatterns = [path("__bench/ok", ok), path("webhooks/__bench/ok", ok), *service_urls]
