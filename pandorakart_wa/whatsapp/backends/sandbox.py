"""Local runs: every call succeeds; sends get wamids and, a moment later, sent → delivered →
read statuses that go through the same webhook processing path as Meta's real webhooks.
Templates submitted here are approved at once."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings

from pandorakart_wa.whatsapp.base import BaseBackend, SendResult, TemplateSubmission

# Seconds after the send at which each status is fed back.
STATUS_DELAYS = (("sent", 0.5), ("delivered", 2.0), ("read", 6.0))

_lock = threading.Lock()
_profile: dict[str, Any] = {}
_templates: dict[tuple[str, str], dict[str, Any]] = {}


def status_payload(*, wamid: str, recipient: str, status: str, callback_data: str | None) -> dict[str, Any]:
    """A `messages` status webhook exactly as Meta shapes it."""
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": recipient.lstrip("+"),
    }
    if callback_data:
        item["biz_opaque_callback_data"] = callback_data
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": settings.WHATSAPP_WABA_ID or "sandbox-waba",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "919227021270",
                                "phone_number_id": settings.WHATSAPP_PHONE_NUMBER_ID or "sandbox-phone",
                            },
                            "statuses": [item],
                        },
                    }
                ],
            }
        ],
    }


class SandboxBackend(BaseBackend):
    def _accept(self, to: str, callback_data: str | None) -> SendResult:
        wamid = f"wamid.sandbox.{uuid.uuid4().hex}"
        from pandorakart_wa.tasks import sandbox_feed_status

        for status, delay in STATUS_DELAYS:
            sandbox_feed_status.apply_async(
                kwargs={"wamid": wamid, "recipient": to, "status": status, "callback_data": callback_data},
                countdown=delay,
            )
        return SendResult(wamid=wamid, wa_id=to.lstrip("+"), message_status="accepted")

    def send_template(
        self,
        *,
        to: str,
        name: str,
        language: str,
        body_parameters: Sequence[str] = (),
        header_parameters: Sequence[str] = (),
        biz_opaque_callback_data: str | None = None,
    ) -> SendResult:
        return self._accept(to, biz_opaque_callback_data)

    def send_text(
        self,
        *,
        to: str,
        body: str,
        preview_url: bool = False,
        reply_to: str | None = None,
        biz_opaque_callback_data: str | None = None,
    ) -> SendResult:
        return self._accept(to, biz_opaque_callback_data)

    def get_business_profile(self) -> dict[str, Any]:
        with _lock:
            return dict(_profile)

    def update_business_profile(self, fields: Mapping[str, Any]) -> None:
        with _lock:
            _profile.update({k: v for k, v in fields.items() if k != "messaging_product"})

    def create_message_template(
        self,
        *,
        name: str,
        language: str,
        category: str,
        components: Sequence[Mapping[str, Any]],
        parameter_format: str = "POSITIONAL",
    ) -> TemplateSubmission:
        template_id = f"sandbox-{uuid.uuid5(uuid.NAMESPACE_URL, name + '/' + language).hex[:16]}"
        with _lock:
            _templates[(name, language)] = {
                "id": template_id, "name": name, "language": language, "category": category,
                "components": list(components), "status": "APPROVED", "quality_score": {"score": "GREEN"},
            }
        return TemplateSubmission(id=template_id, status="APPROVED", category=category)

    def list_message_templates(self, *, name: str | None = None) -> list[dict[str, Any]]:
        with _lock:
            return [dict(t) for t in _templates.values() if name is None or t["name"] == name]
