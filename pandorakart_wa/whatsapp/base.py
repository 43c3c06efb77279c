"""The gateway's interface: one backend class per transport, like Django's email backends."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SendResult:
    """Meta accepted the request: `wamid` identifies the message in later status webhooks."""

    wamid: str
    wa_id: str | None = None
    message_status: str | None = None  # "accepted", "held_for_quality_assessment", "paused"


@dataclass(frozen=True)
class TemplateSubmission:
    id: str
    status: str
    category: str


@dataclass(frozen=True)
class OutboundMessage:
    """One message to send, in the shape every backend accepts (used by `send_batch`)."""

    to: str
    template: str | None = None
    language: str | None = None
    body_parameters: Sequence[str] = ()
    header_parameters: Sequence[str] = ()
    text: str | None = None
    biz_opaque_callback_data: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    not_before: float | None = None  # epoch seconds: a rate-limiter slot; send_batch waits for it


def wait_for_slot(message: OutboundMessage) -> None:
    """Sleep until the message's rate-limiter slot opens (no-op without one)."""
    if message.not_before is not None:
        delay = message.not_before - time.time()
        if delay > 0:
            time.sleep(delay)


class BaseBackend:
    """Operations the service needs from Meta. Backends raise `errors.WhatsAppError`s and never
    retry: the retry policy belongs to the caller (the Celery task or the sync job)."""

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
        raise NotImplementedError

    def send_text(
        self,
        *,
        to: str,
        body: str,
        preview_url: bool = False,
        reply_to: str | None = None,
        biz_opaque_callback_data: str | None = None,
    ) -> SendResult:
        raise NotImplementedError

    def send(self, message: OutboundMessage) -> SendResult:
        if message.template is not None:
            return self.send_template(
                to=message.to,
                name=message.template,
                language=message.language or "en",
                body_parameters=message.body_parameters,
                header_parameters=message.header_parameters,
                biz_opaque_callback_data=message.biz_opaque_callback_data,
            )
        return self.send_text(
            to=message.to, body=message.text or "", biz_opaque_callback_data=message.biz_opaque_callback_data
        )

    def send_batch(self, messages: Sequence[OutboundMessage]) -> list[SendResult | Exception]:
        """Send many messages; each result is a SendResult or the WhatsAppError it raised.
        Backends that can, send concurrently over their keep-alive connections."""
        results: list[SendResult | Exception] = []
        for message in messages:
            wait_for_slot(message)
            try:
                results.append(self.send(message))
            except Exception as exc:
                results.append(exc)
        return results

    def close(self) -> None:
        """Release what the backend holds (connections); called by `reset_backend()`."""

    def get_business_profile(self) -> dict[str, Any]:
        raise NotImplementedError

    def update_business_profile(self, fields: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def create_message_template(
        self,
        *,
        name: str,
        language: str,
        category: str,
        components: Sequence[Mapping[str, Any]],
        parameter_format: str = "POSITIONAL",
    ) -> TemplateSubmission:
        raise NotImplementedError

    def list_message_templates(self, *, name: str | None = None) -> list[dict[str, Any]]:
        """Every template of the WABA (all pages), as Meta returns them."""
        raise NotImplementedError
