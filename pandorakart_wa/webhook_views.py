"""GET/POST /webhooks/whatsapp (API.md, Webhooks from Meta)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from pandorakart_wa.api.errors import error_body
from pandorakart_wa.webhooks import receive_payload
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
        event = receive_payload(raw)
    except ValueError as exc:  # includes json.JSONDecodeError
        return JsonResponse(error_body("invalid", f"The webhook body is not valid JSON: {exc}"), status=400)
    return JsonResponse({"status": "ok", "duplicate": event is None})


def _verify_subscription(request: HttpRequest) -> HttpResponse:
    mode = request.GET.get("hub.mode")
    token = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge", "")
    expected = settings.WHATSAPP_VERIFY_TOKEN
    if mode == "subscribe" and expected and constant_time_compare(token, expected):
        return HttpResponse(challenge, content_type="text/plain")
    return JsonResponse(error_body("permission_denied", "The verify token does not match."), status=403)
