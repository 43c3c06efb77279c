"""The `sandbox` backend: statuses through the real webhook path, state shared by processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pandorakart_wa.webhooks.models import WebhookEvent
from pandorakart_wa.whatsapp import get_backend
from pandorakart_wa.whatsapp.backends import sandbox
from pandorakart_wa.whatsapp.backends.sandbox import SandboxBackend

REPO = Path(__file__).resolve().parents[2]
BODY = [{"type": "BODY", "text": "Hi {{1}}", "example": {"body_text": [["Asha"]]}}]


@pytest.fixture
def sandbox_settings(settings: Any, tmp_path: Path) -> Path:
    settings.WHATSAPP_BACKEND = "pandorakart_wa.whatsapp.backends.sandbox.SandboxBackend"
    settings.RUN_DIR = tmp_path
    return tmp_path


def _statuses(event: WebhookEvent) -> list[dict[str, Any]]:
    return [item.data["data"] for item in event.items.order_by("position")]


@pytest.mark.django_db
def test_a_sandbox_send_feeds_sent_delivered_read_through_the_webhook_path(sandbox_settings: Path):
    # given the sandbox backend (Celery runs eagerly in tests: the statuses arrive at once)
    backend = get_backend()
    assert isinstance(backend, SandboxBackend)
    # when a template is sent
    result = backend.send_template(to="+919812345678", name="order_shipped", language="en",
                                   biz_opaque_callback_data="outbox:7")
    # then three status webhooks were stored by the real processing path, marked as sandbox
    events = list(WebhookEvent.objects.order_by("pk"))
    assert [e.source for e in events] == [WebhookEvent.Source.SANDBOX] * 3
    assert all(e.fields == ["messages"] and e.processed_at is not None and e.error == "" for e in events)
    statuses = [s for e in events for s in _statuses(e)]
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    assert all(i.state == "applied" for e in events for i in e.items.all())
    assert {s["id"] for s in statuses} == {result.wamid}
    assert {s["recipient_id"] for s in statuses} == {"919812345678"}
    assert {s["biz_opaque_callback_data"] for s in statuses} == {"outbox:7"}


def test_profile_and_templates_persist_across_backend_instances(sandbox_settings: Path):
    # given one backend instance writes the profile and a template
    SandboxBackend().update_business_profile({"messaging_product": "whatsapp", "about": "Fashion for everyone"})
    submission = SandboxBackend().create_message_template(
        name="welcome", language="en", category="MARKETING", components=BODY
    )
    # when a fresh instance (as in another process) reads them
    reader = SandboxBackend()
    # then it sees the same "Meta"
    assert submission.status == "APPROVED"
    assert reader.get_business_profile() == {"about": "Fashion for everyone"}
    [template] = reader.list_message_templates(name="welcome")
    assert template["id"] == submission.id
    assert template["status"] == "APPROVED"
    # and the state is a JSON file under RUN_DIR
    state = json.loads((sandbox_settings / "sandbox-meta.json").read_text())
    assert state["profile"] == {"about": "Fashion for everyone"}
    # and reset() forgets it
    sandbox.reset()
    assert reader.get_business_profile() == {}
    assert reader.list_message_templates() == []


_WRITER = """
import sys
from django.conf import settings
settings.configure(RUN_DIR=sys.argv[1], WHATSAPP_WABA_ID="", WHATSAPP_PHONE_NUMBER_ID="")
from pandorakart_wa.whatsapp.backends.sandbox import SandboxBackend
backend = SandboxBackend()
for i in range(15):
    backend.create_message_template(name=f"w{sys.argv[2]}_{i}", language="en", category="UTILITY", components=[])
    backend.update_business_profile({f"field_{sys.argv[2]}": str(i)})
"""


def test_concurrent_processes_share_one_state_without_losing_writes(sandbox_settings: Path):
    # given four processes writing templates and profile fields at the same time
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(sandbox_settings), str(n)], cwd=REPO)
        for n in range(4)
    ]
    # when they finish
    assert [w.wait(timeout=60) for w in writers] == [0, 0, 0, 0]
    # then this process sees every write of every process
    backend = SandboxBackend()
    assert len(backend.list_message_templates()) == 60
    assert backend.get_business_profile() == {f"field_{n}": "14" for n in range(4)}
