"""GET/POST /webhooks/whatsapp (API.md, Webhooks from Meta)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from pandorakart_wa.core.api.errors import error_body
from pandorakart_wa.webhooks.receive import webhook_receive
from pandorakart_wa.whatsapp.inbound import NotJson
from pandorakart_wa.whatsapp.signature import verify_signature

logger = logging.getLogger(__name__)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _verify_subscription(request)
    raw = request.body
    if not verify_signature(raw, request.headers.get("X-Hub-Signature-256"), settings.WHATSAPP_APP_SECRET):
        logger.warning("Webhook refused: missing or wrong X-Hub-Signature-256")
        return JsonResponse(error_body("permission_denied", "The webhook signature is missing or wrong."), status=403)
    try:
        receipt = webhook_receive(raw)
    except NotJson as exc:
        return JsonResponse(error_body("invalid", f"The webhook body is not valid JSON: {exc}"), status=400)
    except DatabaseError:
        # The one case a signed body is not answered 200: it could not be stored, so Meta must
        # deliver it again (it retries for 7 days).
        logger.exception("Webhook could not be stored; Meta will redeliver it")
        return JsonResponse(error_body("unavailable", "The webhook could not be stored; deliver it again."), status=503)
    return JsonResponse({"status": "ok", "duplicate": receipt.duplicate})


def _verify_subscription(request: HttpRequest) -> HttpResponse:
    mode = request.GET.get("hub.mode")
    token = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge", "")
    expected = settings.WHATSAPP_VERIFY_TOKEN
    if mode == "subscribe" and expected and constant_time_compare(token, expected):
        return HttpResponse(challenge, content_type="text/plain")
    return JsonResponse(error_body("permission_denied", "The verify token does not match."), status=403)
