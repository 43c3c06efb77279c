"""Tests: keeps what was sent in `outbox` and profile/template calls in memory."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from pandorakart_wa.whatsapp.base import BaseBackend, SendResult, TemplateSubmission

# Shared by every instance, like django.core.mail.outbox, so tests can read it.
outbox: list[dict[str, Any]] = []
profile: dict[str, Any] = {}
templates: list[dict[str, Any]] = []
_ids = itertools.count(1)
_lock = threading.Lock()


def reset() -> None:
    with _lock:
        outbox.clear()
        profile.clear()
        templates.clear()


class LocmemBackend(BaseBackend):
    def _record(self, kind: str, to: str, **data: Any) -> SendResult:
        with _lock:
            wamid = f"wamid.locmem.{next(_ids)}"
            outbox.append({"kind": kind, "to": to, "wamid": wamid, **data})
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
        otp_code: str | None = None,
    ) -> SendResult:
        return self._record(
            "template",
            to,
            name=name,
            language=language,
            body_parameters=list(body_parameters),
            header_parameters=list(header_parameters),
            otp_code=otp_code,
            biz_opaque_callback_data=biz_opaque_callback_data,
        )

    def send_text(
        self,
        *,
        to: str,
        body: str,
        preview_url: bool = False,
        reply_to: str | None = None,
        biz_opaque_callback_data: str | None = None,
    ) -> SendResult:
        return self._record("text", to, body=body, reply_to=reply_to, biz_opaque_callback_data=biz_opaque_callback_data)

    def get_business_profile(self) -> dict[str, Any]:
        with _lock:
            return dict(profile)

    def update_business_profile(self, fields: Mapping[str, Any]) -> None:
        with _lock:
            profile.update(fields)

    def create_message_template(
        self,
        *,
        name: str,
        language: str,
        category: str,
        components: Sequence[Mapping[str, Any]],
        parameter_format: str = "POSITIONAL",
    ) -> TemplateSubmission:
        with _lock:
            template_id = str(next(_ids))
            templates.append(
                {"id": template_id, "name": name, "language": language, "category": category,
                 "components": list(components), "status": "PENDING"}
            )
        return TemplateSubmission(id=template_id, status="PENDING", category=category)

    def list_message_templates(self, *, name: str | None = None) -> list[dict[str, Any]]:
        with _lock:
            return [dict(t) for t in templates if name is None or t["name"] == name]
