"""The gateway's interface: one backend class per transport, like Django's email backends."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
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
    # AUTHENTICATION templates: the one-time code again, for the copy-code / one-tap button
    otp_code: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    not_before: float | None = None  # epoch seconds: a rate-limiter slot; send_batch waits for it
    # epoch seconds: if it cannot leave by then it is not sent (result `Late`): sent later than
    # its slot it would crowd the slots after it
    not_after: float | None = None


# `release(wave)` hook of send_batch: called in the calling thread with the messages about to
# leave (their rate-limit slot is open and a connection is free), immediately before they are
# sent; returns, for each, whether it may go. A message held back gets a `Withheld` result.
Release = Callable[[Sequence[OutboundMessage]], Sequence[bool]]


class Withheld(Exception):
    """The caller's `release` hook kept this message back at the last moment: it was not sent."""


class Late(Withheld):
    """Not sent: it could not leave on time for its rate-limit slot (`not_before`); sent later
    it would crowd the slots after it. The caller reserves it a new slot."""


def wait_for_slot(message: OutboundMessage) -> None:
    """Sleep until the message's rate-limiter slot opens (no-op without one)."""
    if message.not_before is not None:
        delay = message.not_before - time.time()
        if delay > 0:
            time.sleep(delay)


def release_one(release: Release, message: OutboundMessage) -> bool:
    try:
        return bool(release([message])[0])
    except Exception:  # the hook failed: nothing is known to be allowed, so nothing leaves
        return False


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
        otp_code: str | None = None,
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
                otp_code=message.otp_code,
            )
        return self.send_text(
            to=message.to, body=message.text or "", biz_opaque_callback_data=message.biz_opaque_callback_data
        )

    def send_batch(
        self, messages: Sequence[OutboundMessage], *, release: Release | None = None
    ) -> list[SendResult | Exception]:
        """Send many messages; each result is a SendResult or the WhatsAppError it raised
        (`Withheld` when `release` kept it back). Backends that can, send concurrently over
        their keep-alive connections."""
        results: list[SendResult | Exception] = []
        for message in messages:
            wait_for_slot(message)
            if release is not None and not release_one(release, message):
                results.append(Withheld("held back by the caller before sending"))
                continue
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
