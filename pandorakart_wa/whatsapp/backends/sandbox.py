"""Local runs: every call succeeds; sends get wamids and, a moment later, sent → delivered →
read statuses that go through the same webhook processing path as Meta's real webhooks
(the Celery task `sandbox_feed_status` below, which hands each one to `status_sink`, connected
by pandorakart_wa/wiring.py to the webhook intake; with eager Celery they arrive before the send
returns). Templates submitted here are approved at once.

Web, worker, beat and management commands are separate processes, so the sandbox's "Meta"
(business profile and templates) lives in one JSON file, `settings.RUN_DIR/sandbox-meta.json`
(or `settings.WHATSAPP_SANDBOX_STATE`), read and written under an `fcntl` lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings

from pandorakart_wa.core.hooks import Hooks
from pandorakart_wa.core.tasks import shared_task
from pandorakart_wa.whatsapp.base import BaseBackend, SendResult, TemplateSubmission

# Seconds after the send at which each status is fed back.
STATUS_DELAYS = (("sent", 0.5), ("delivered", 2.0), ("read", 6.0))
STATE_FILE_NAME = "sandbox-meta.json"

_thread_lock = threading.Lock()  # flock is per open file: threads of one process queue here first


def state_path() -> Path:
    """Where the sandbox keeps its profile and templates (read at each call: tests override it)."""
    configured = getattr(settings, "WHATSAPP_SANDBOX_STATE", None)
    return Path(configured) if configured else Path(settings.RUN_DIR) / STATE_FILE_NAME


def _empty_state() -> dict[str, Any]:
    return {"profile": {}, "templates": {}}


@contextlib.contextmanager
def _state(*, write: bool) -> Iterator[dict[str, Any]]:
    """The shared state under a lock (exclusive when writing); written back atomically."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    with _thread_lock, lock_path.open("a+") as lock_file:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        try:
            try:
                state = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(state, dict):
                    state = _empty_state()
            except FileNotFoundError:
                state = _empty_state()
            except ValueError:  # a corrupt file: start over rather than break every local run
                state = _empty_state()
            state.setdefault("profile", {})
            state.setdefault("templates", {})
            yield state
            if write:
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
                try:
                    with os.fdopen(fd, "w", encoding="utf-8") as out:
                        json.dump(state, out, indent=1, sort_keys=True)
                    os.replace(tmp, path)
                except BaseException:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(tmp)
                    raise
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


def reset() -> None:
    """Forget the sandbox's profile and templates (tests; `make run` from a clean .run/)."""
    with _state(write=True) as state:
        state.clear()
        state.update(_empty_state())


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


# Where the sandbox's status webhooks go: the webhook pipeline, above the gateway (wiring.py).
status_sink: Hooks[Callable[[dict[str, Any]], object]] = Hooks("sandbox status webhooks")


@shared_task(name="pandorakart_wa.tasks.sandbox_feed_status", ignore_result=True)
def sandbox_feed_status(*, wamid: str, recipient: str, status: str, callback_data: str | None) -> None:
    """The sandbox backend's status webhook, fed through the real webhook processing path."""
    payload = status_payload(wamid=wamid, recipient=recipient, status=status, callback_data=callback_data)
    for sink in status_sink:
        sink(payload)


class SandboxBackend(BaseBackend):
    def _accept(self, to: str, callback_data: str | None) -> SendResult:
        wamid = f"wamid.sandbox.{uuid.uuid4().hex}"
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
        otp_code: str | None = None,
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
        with _state(write=False) as state:
            return dict(state["profile"])

    def update_business_profile(self, fields: Mapping[str, Any]) -> None:
        update = {k: v for k, v in fields.items() if k != "messaging_product"}
        with _state(write=True) as state:
            state["profile"].update(update)

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
        template = {
            "id": template_id, "name": name, "language": language, "category": category,
            "parameter_format": parameter_format, "components": [dict(c) for c in components],
            "status": "APPROVED", "quality_score": {"score": "GREEN"}, "rejected_reason": "NONE",
        }
        with _state(write=True) as state:
            state["templates"][f"{name}/{language}"] = template
        return TemplateSubmission(id=template_id, status="APPROVED", category=category)

    def list_message_templates(self, *, name: str | None = None) -> list[dict[str, Any]]:
        with _state(write=False) as state:
            templates = list(state["templates"].values())
        return [dict(t) for t in templates if name is None or t["name"] == name]
