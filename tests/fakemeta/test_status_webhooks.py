"""The fake Meta's status webhooks: Meta-shaped, signed, batched, for every send Meta acted on."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pandorakart_wa.whatsapp import get_backend
from pandorakart_wa.whatsapp.errors import DeliveryUnknown
from pandorakart_wa.whatsapp.signature import verify_signature
from tests.fakemeta.server import ControlClient, FakeMeta

SECRET = "fake-app-secret"


class Receiver:
    """A tiny HTTP endpoint that records what is POSTed to it (answers `status`)."""

    def __init__(self) -> None:
        self.posts: list[tuple[bytes, dict[str, str]]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((body, dict(self.headers)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/whatsapp"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def statuses(self) -> list[dict[str, Any]]:
        return [s for body, _ in self.posts for e in json.loads(body)["entry"] for c in e["changes"]
                for s in c["value"]["statuses"]]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def test_each_accepted_send_yields_signed_batched_meta_statuses(fake_meta: FakeMeta, receiver: Receiver) -> None:
    # given status webhooks on, two statuses per send, at most 4 statuses per POST
    fake_meta.configure_webhooks(receiver.url, SECRET, statuses=["sent", "delivered"], batch_size=4)
    # when three messages are sent
    results = [get_backend().send_text(to=f"+9198765000{i:02d}", body="hi", biz_opaque_callback_data=f"msg-{i}")
               for i in range(3)]
    state = fake_meta.wait_webhooks_idle()
    # then six statuses arrive in batches of at most four, each POST signed with the app secret
    assert state["pending"] == 0 and state["statuses_posted"] == 6 and state["failed_posts"] == 0
    assert len(receiver.posts) >= 2
    for body, headers in receiver.posts:
        assert verify_signature(body, headers["X-Hub-Signature-256"], SECRET)
        payload = json.loads(body)
        assert payload["object"] == "whatsapp_business_account"
        change = payload["entry"][0]["changes"][0]
        assert change["field"] == "messages"
        assert change["value"]["metadata"]["phone_number_id"] == "106540352242922"
        assert 1 <= len(change["value"]["statuses"]) <= 4
    # and each status names the wamid, the recipient and echoes the callback data
    statuses = receiver.statuses()
    for i, result in enumerate(results):
        mine = [s for s in statuses if s["id"] == result.wamid]
        assert sorted(s["status"] for s in mine) == ["delivered", "sent"]
        assert {s["biz_opaque_callback_data"] for s in mine} == {f"msg-{i}"}
        assert {s["recipient_id"] for s in mine} == {f"9198765000{i:02d}"}
        assert all(s["timestamp"].isdigit() for s in mine)


def test_a_send_whose_answer_was_dropped_still_gets_its_statuses(fake_meta: FakeMeta, receiver: Receiver) -> None:
    # given Meta acts on the send but the answer is lost on the way back
    fake_meta.configure_webhooks(receiver.url, SECRET, statuses=["sent"])
    fake_meta.inject("drop", process=True)
    with pytest.raises(DeliveryUnknown):
        get_backend().send_text(to="+919876500001", body="hi", biz_opaque_callback_data="msg-lost")
    # and a send dropped before Meta acted gets nothing
    fake_meta.inject("drop", process=False)
    with pytest.raises(DeliveryUnknown):
        get_backend().send_text(to="+919876500002", body="hi", biz_opaque_callback_data="msg-never")
    fake_meta.wait_webhooks_idle()
    # then only the first is reported, with the wamid the sender never learnt
    statuses = receiver.statuses()
    assert [s["biz_opaque_callback_data"] for s in statuses] == ["msg-lost"]
    assert statuses[0]["id"] == fake_meta.messages_to("+919876500001")[0]["wamid"]


def test_failed_posts_are_retried_then_counted(fake_meta: FakeMeta, receiver: Receiver) -> None:
    # given our endpoint answers 500
    receiver.status = 500
    fake_meta.configure_webhooks(receiver.url, SECRET, statuses=["sent"], retries=1)
    get_backend().send_text(to="+919876500003", body="hi")
    state = fake_meta.wait_webhooks_idle()
    # then the POST was tried twice and given up
    assert len(receiver.posts) == 2
    assert state["failed_statuses"] == 1 and state["responses"] == {"500": 2}


def test_webhooks_through_the_control_api_and_reset(fake_meta: FakeMeta, receiver: Receiver) -> None:
    control = ControlClient(fake_meta.url)
    # given webhooks configured from another process
    config = control.configure_webhooks(receiver.url, SECRET, statuses=["sent", "delivered", "read"], delay_ms=10)
    assert config["statuses"] == ["sent", "delivered", "read"]
    get_backend().send_text(to="+919876500004", body="hi")
    assert control.wait_webhooks_idle()["statuses_posted"] == 3
    # when they are switched off (or the server reset), later sends post nothing
    control.disable_webhooks()
    get_backend().send_text(to="+919876500005", body="hi")
    assert control.webhook_state()["config"] is None
    assert len(receiver.statuses()) == 3
    with pytest.raises(Exception, match="400"):
        control.configure_webhooks(receiver.url, SECRET, statuses=["seen"])
