"""The fake Meta server itself: run as a separate process with its control API, paging,
template reads and probabilistic faults (what benchmarks and multi-process tests rely on)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from pandorakart_wa.whatsapp import get_backend, reset_backend
from pandorakart_wa.whatsapp.backends.cloud import redact
from pandorakart_wa.whatsapp.base import OutboundMessage, SendResult
from pandorakart_wa.whatsapp.errors import PermanentError, PolicyRejection
from tests.fakemeta.fixtures import CLOUD_BACKEND
from tests.fakemeta.server import ControlClient, FakeMeta

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def separate_fake_meta() -> Iterator[ControlClient]:
    """`python -m tests.fakemeta.server` in its own process, as benchmarks run it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakemeta.server", "--port", "0", "--latency-ms", "5"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "listening on http://127.0.0.1:" in line, line
    control = ControlClient(line.rsplit(" ", 1)[1].strip())
    control.wait_ready()
    yield control
    process.terminate()
    process.wait(10)


def test_separate_process_server_with_control_api(separate_fake_meta: ControlClient, settings: Any):
    # given the backend pointed at the server process, and a fault set through the control API
    control = separate_fake_meta
    control.reset()
    settings.WHATSAPP_BACKEND = CLOUD_BACKEND
    settings.WHATSAPP_GRAPH_URL = control.url
    reset_backend()
    control.inject("error", code=131050, recipient="+919800000003", count=None)
    # when a batch is sent, then one recipient is sent to again (a duplicate)
    messages = [OutboundMessage(to=f"+91980000000{i}", text="hi") for i in range(5)]
    results = get_backend().send_batch(messages)
    get_backend().send_text(to="+919800000001", body="hi again")
    # then the control API counts per recipient and names the duplicate
    assert isinstance(results[3], PolicyRejection)
    assert all(isinstance(r, SendResult) for i, r in enumerate(results) if i != 3)
    counts = control.counts()
    assert counts["messages"] == 6
    assert counts["by_recipient"]["919800000001"] == 2
    assert counts["accepted_by_recipient"].get("919800000003") is None
    assert counts["duplicates"] == ["919800000001"]
    assert counts["by_outcome"] == {"accepted": 5, "error:131050": 1}
    assert [r["json"]["text"]["body"] for r in control.messages_to("+919800000001")] == ["hi", "hi again"]
    # and reset forgets everything
    control.reset()
    assert control.counts()["count"] == 0


def test_control_api_rejects_an_unknown_fault(separate_fake_meta: ControlClient):
    response = requests.post(f"{separate_fake_meta.url}/__control/faults", json={"kind": "explode"}, timeout=5)
    assert response.status_code == 400
    assert "kind" in response.json()["detail"]


def _get(fake_meta: FakeMeta, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{fake_meta.url}/v23.0/{path}", params=params, timeout=5,
                        headers={"Authorization": f"Bearer {fake_meta.token}"})


def test_template_list_pages_with_limit_and_after_and_filters_by_status(fake_meta: FakeMeta, settings: Any):
    # given three templates, one approved
    backend = get_backend()
    ids = [backend.create_message_template(name=f"t{i}", language="en", category="UTILITY",
                                           components=[{"type": "BODY", "text": "Hello"}]).id for i in range(3)]
    fake_meta.set_template_status(ids[1], "APPROVED")
    waba = settings.WHATSAPP_WABA_ID
    # when the first page of two is read
    first = _get(fake_meta, f"{waba}/message_templates", limit=2, fields="name,status").json()
    # then it has two, only the asked fields (plus id), and a next cursor
    assert first["data"] == [{"id": ids[0], "name": "t0", "status": "PENDING"},
                             {"id": ids[1], "name": "t1", "status": "APPROVED"}]
    second = _get(fake_meta, f"{waba}/message_templates", limit=2, after=first["paging"]["cursors"]["after"]).json()
    assert [t["name"] for t in second["data"]] == ["t2"]
    assert "next" not in second["paging"]
    # and a status filter and a single-template read work
    approved = _get(fake_meta, f"{waba}/message_templates", status="APPROVED").json()["data"]
    assert [t["id"] for t in approved] == [ids[1]]
    one = _get(fake_meta, ids[1], fields="status").json()
    assert one == {"id": ids[1], "status": "APPROVED"}
    missing = _get(fake_meta, "999")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == 100


def test_probability_fault_hits_about_that_share(fake_meta: FakeMeta):
    # given half of the sends fail with 131000
    fault = fake_meta.inject("error", code=131000, probability=0.5)
    # when 200 are sent
    results = get_backend().send_batch([OutboundMessage(to=f"+9198000{i:05d}", text="x") for i in range(200)])
    failures = sum(1 for r in results if not isinstance(r, SendResult))
    # then roughly half failed (binomial(200, 0.5): 60..140 is beyond 8 standard deviations)
    assert 60 <= failures <= 140
    assert fault.hits == failures


def test_missing_token_is_refused_with_metas_190(fake_meta: FakeMeta, settings: Any):
    response = requests.post(f"{fake_meta.url}/v23.0/{settings.WHATSAPP_PHONE_NUMBER_ID}/messages",
                             json={"to": "+91"}, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 190
    assert fake_meta.received[0]["outcome"] == "unauthorized"


def test_unconfigured_phone_number_id_fails_before_calling_meta(fake_meta: FakeMeta, settings: Any):
    settings.WHATSAPP_PHONE_NUMBER_ID = ""
    reset_backend()
    with pytest.raises(PermanentError, match="WHATSAPP_PHONE_NUMBER_ID"):
        get_backend().send_text(to="+919812345678", body="hi")
    assert fake_meta.received == []


def test_tokens_in_urls_are_redacted():
    assert redact("GET /v23.0/1/message_templates?limit=2&access_token=EAAB123&after=x") == (
        "GET /v23.0/1/message_templates?limit=2&access_token=***&after=x"
    )
