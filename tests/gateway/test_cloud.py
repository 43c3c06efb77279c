"""The `cloud` backend against the fake Meta Graph API over real HTTP (tests/fakemeta)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from pandorakart_wa.whatsapp import get_backend, reset_backend
from pandorakart_wa.whatsapp.backends import cloud
from pandorakart_wa.whatsapp.backends.cloud import CloudBackend, parse_retry_after
from pandorakart_wa.whatsapp.base import OutboundMessage, SendResult
from pandorakart_wa.whatsapp.errors import (
    DeliveryUnknown,
    PermanentError,
    PolicyRejection,
    TransientError,
    WhatsAppError,
)
from tests.fakemeta.server import ERROR_CATALOG, FakeMeta

PHONE = "+919812345678"
DAY = 24 * 60 * 60


def _backend() -> CloudBackend:
    backend = get_backend()
    assert isinstance(backend, CloudBackend)
    return backend


# --- success -------------------------------------------------------------------------------


def test_send_template_posts_metas_body_and_returns_the_wamid(fake_meta: FakeMeta, settings: Any):
    # given the cloud backend pointed at the fake Graph API
    # when a template is sent
    result = _backend().send_template(
        to=PHONE,
        name="order_shipped",
        language="en_US",
        body_parameters=["Asha", "PK-1042"],
        biz_opaque_callback_data="outbox:42",
    )
    # then exactly one request reached "Meta", with Meta's body shape and the Bearer token
    [request] = fake_meta.received
    assert request["method"] == "POST"
    assert request["path"] == f"/{settings.WHATSAPP_API_VERSION}/{settings.WHATSAPP_PHONE_NUMBER_ID}/messages"
    assert request["headers"]["Authorization"] == f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}"
    assert request["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+919812345678",
        "type": "template",
        "biz_opaque_callback_data": "outbox:42",
        "template": {
            "name": "order_shipped",
            "language": {"policy": "deterministic", "code": "en_US"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Asha"}, {"type": "text", "text": "PK-1042"}]}
            ],
        },
    }
    # and the wamid Meta answered is what the caller gets
    assert result == SendResult(wamid=request["wamid"], wa_id="919812345678", message_status="accepted")
    assert result.wamid.startswith("wamid.")
    assert fake_meta.violations == []


def test_send_text_adds_the_plus_and_the_reply_context(fake_meta: FakeMeta):
    # when a reply is sent to a number written without "+"
    result = _backend().send_text(to="919812345678", body="Your refund is on its way.", preview_url=True,
                                  reply_to="wamid.INBOUND1")
    # then Meta gets "+" (without it Meta would prefix the business's own country code)
    [request] = fake_meta.messages_to(PHONE)
    assert request["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+919812345678",
        "type": "text",
        "text": {"body": "Your refund is on its way.", "preview_url": True},
        "context": {"message_id": "wamid.INBOUND1"},
    }
    assert result.wamid == request["wamid"]
    assert result.message_status is None  # Meta only reports it for (paced) templates


def test_header_parameters_become_a_header_component(fake_meta: FakeMeta):
    _backend().send_template(to=PHONE, name="sale", language="en", header_parameters=["Diwali"])
    [request] = fake_meta.received
    assert request["json"]["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "Diwali"}]}
    ]
    assert "biz_opaque_callback_data" not in request["json"]


def test_one_session_is_reused_across_calls(fake_meta: FakeMeta):
    # given the backend from get_backend()
    backend = _backend()
    # when it sends twice
    backend.send_text(to=PHONE, body="one")
    backend.send_text(to=PHONE, body="two")
    # then get_backend() still returns the same instance (same pool) and no retries were made
    assert get_backend() is backend
    adapter = backend.session.get_adapter(fake_meta.url)
    assert isinstance(adapter, HTTPAdapter)
    assert adapter.max_retries.total == 0
    assert len(fake_meta.received) == 2


# --- Meta's errors -> the typed hierarchy --------------------------------------------------

ERROR_CASES = [
    # (fault spec, expected class, code, retry_after, account_level)
    ({"kind": "http", "status": 500}, TransientError, None, None, None),
    ({"kind": "http", "status": 503, "retry_after": 5}, TransientError, None, 5.0, None),
    ({"kind": "http", "status": 429, "body": "slow down", "retry_after": 12}, TransientError, None, 12.0, None),
    ({"kind": "error", "code": 130429, "status": 429, "retry_after": 30}, TransientError, 130429, 30.0, None),
    ({"kind": "error", "code": 80007, "status": 429, "retry_after": 60}, TransientError, 80007, 60.0, None),
    ({"kind": "error", "code": 131049}, TransientError, 131049, float(DAY), None),
    ({"kind": "error", "code": 131056}, TransientError, 131056, None, None),
    ({"kind": "error", "code": 131000}, TransientError, 131000, None, None),
    ({"kind": "error", "code": 131050}, PolicyRejection, 131050, None, False),
    ({"kind": "error", "code": 131026}, PolicyRejection, 131026, None, False),
    ({"kind": "error", "code": 131047}, PolicyRejection, 131047, None, False),
    ({"kind": "error", "code": 368}, PolicyRejection, 368, None, True),
    ({"kind": "error", "code": 131031}, PolicyRejection, 131031, None, True),
    ({"kind": "error", "code": 131048}, PolicyRejection, 131048, None, True),
    ({"kind": "error", "code": 132001}, PermanentError, 132001, None, None),
    ({"kind": "error", "code": 100}, PermanentError, 100, None, None),
    ({"kind": "http", "status": 404, "body": "Not Found"}, PermanentError, None, None, None),
]


@pytest.mark.parametrize(("fault", "expected", "code", "retry_after", "account_level"), ERROR_CASES,
                         ids=[f"{c[0]['kind']}-{c[0].get('code') or c[0].get('status')}" for c in ERROR_CASES])
def test_each_injected_fault_becomes_its_error_class_without_retries(
    fake_meta: FakeMeta, fault: dict[str, Any], expected: type[WhatsAppError], code: int | None,
    retry_after: float | None, account_level: bool | None,
):
    # given "Meta" answers the next send with this fault
    fake_meta.inject(**fault)
    # when a template is sent
    with pytest.raises(WhatsAppError) as caught:
        _backend().send_template(to=PHONE, name="order_shipped", language="en")
    # then the caller gets exactly the class the code calls for
    error = caught.value
    assert type(error) is expected
    assert error.code == code
    assert error.http_status == (fault.get("status") or ERROR_CATALOG[code or 0][0])
    if isinstance(error, TransientError):
        assert error.retry_after == retry_after
    if isinstance(error, PolicyRejection):
        assert error.account_level is account_level
    if code is not None:
        assert error.details  # Meta's error_data.details is carried for the operator
        assert not error.title.startswith("(#")
    # and the gateway did not retry: Meta saw exactly one request
    assert len(fake_meta.received) == 1


def test_policy_rejection_carries_metas_title_and_details(fake_meta: FakeMeta):
    fake_meta.inject("error", code=131050, details="Recipient opted out of marketing messages")
    with pytest.raises(PolicyRejection) as caught:
        _backend().send_template(to=PHONE, name="sale", language="en")
    assert caught.value.details == "Recipient opted out of marketing messages"
    assert "stop receiving marketing messages" in caught.value.title
    assert caught.value.payload["error"]["code"] == 131050


def test_fault_for_one_recipient_leaves_the_others_alone(fake_meta: FakeMeta):
    # given only one recipient has opted out at Meta
    fake_meta.inject("error", code=131050, recipient="+91 98123 45679", count=None)
    backend = _backend()
    # when both are sent to
    assert backend.send_text(to=PHONE, body="hi").wamid
    with pytest.raises(PolicyRejection):
        backend.send_text(to="+919812345679", body="hi")
    # then the other recipient still works
    assert backend.send_text(to=PHONE, body="again").wamid


def test_wrong_token_is_a_permanent_error_and_the_header_is_sent(fake_meta: FakeMeta, settings: Any):
    # given a backend configured with a token Meta does not know
    settings.WHATSAPP_ACCESS_TOKEN = "expired-token"
    reset_backend()
    # when it sends
    with pytest.raises(PermanentError) as caught:
        _backend().send_text(to=PHONE, body="hi")
    # then Meta's 190 comes back as a permanent error (retrying cannot help)
    assert caught.value.code == 190
    assert caught.value.http_status == 401
    assert fake_meta.received[0]["headers"]["Authorization"] == "Bearer expired-token"


# --- transport failures ---------------------------------------------------------------------


def test_dropped_connection_after_the_send_is_delivery_unknown(fake_meta: FakeMeta):
    # given "Meta" reads the request and then closes the connection without answering
    fake_meta.inject("drop")
    # when a send is made
    with pytest.raises(DeliveryUnknown):
        _backend().send_template(to=PHONE, name="order_shipped", language="en")
    # then the request did reach Meta, which acted on it (a blind re-send would deliver twice),
    # and the gateway did not retry
    [request] = fake_meta.received
    assert request["outcome"] == "dropped"
    assert request["accepted"] is True and request["wamid"]
    assert not isinstance(DeliveryUnknown("x"), TransientError)


def test_read_timeout_on_a_send_is_delivery_unknown(fake_meta: FakeMeta, settings: Any):
    # given a short read timeout and a Meta that answers too late
    settings.WHATSAPP_READ_TIMEOUT = 0.3
    reset_backend()
    fake_meta.inject("latency", latency_ms=1500)
    # when
    started = time.monotonic()
    with pytest.raises(DeliveryUnknown):
        _backend().send_text(to=PHONE, body="hi")
    # then the caller waited about the read timeout, not the latency, and sent once
    assert time.monotonic() - started < 1.2
    assert len(fake_meta.received) == 1


def test_drop_before_meta_acts_is_still_delivery_unknown_for_a_send(fake_meta: FakeMeta):
    # given the connection dies after the request was read but before Meta acted
    fake_meta.inject("drop", process=False)
    # when / then: the caller cannot tell the two apart, so it is still "unknown"
    with pytest.raises(DeliveryUnknown):
        _backend().send_text(to=PHONE, body="hi")
    assert fake_meta.counts()["accepted_by_recipient"] == {}


def test_read_timeout_and_dropped_connection_on_a_read_are_transient(fake_meta: FakeMeta, settings: Any):
    # given GET calls, which are safe to repeat
    settings.WHATSAPP_READ_TIMEOUT = 0.3
    reset_backend()
    fake_meta.inject("latency", endpoint="profile", latency_ms=1500)
    fake_meta.inject("drop", endpoint="templates")
    backend = _backend()
    # when / then
    with pytest.raises(TransientError):
        backend.get_business_profile()
    with pytest.raises(TransientError):
        backend.list_message_templates()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_is_transient(fake_meta: FakeMeta, settings: Any):
    # given nothing listens where the Graph API should be
    settings.WHATSAPP_GRAPH_URL = f"http://127.0.0.1:{_free_port()}"
    reset_backend()
    # when / then: the request never left, so it is safe to retry
    with pytest.raises(TransientError) as caught:
        _backend().send_text(to=PHONE, body="hi")
    assert not isinstance(caught.value, DeliveryUnknown)
    assert fake_meta.received == []


@pytest.fixture
def unresponsive_listener() -> Iterator[int]:
    """A port whose accept queue is full: new connections get no SYN-ACK (connect timeout)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    for _ in range(8):  # enough to fill the queue on Linux (backlog 0 admits one or two)
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(server.getsockname())
        fillers.append(client)
    yield int(server.getsockname()[1])
    for client in fillers:
        client.close()
    server.close()


def test_connect_timeout_is_transient(fake_meta: FakeMeta, settings: Any, unresponsive_listener: int):
    # given a host that never completes the TCP handshake
    settings.WHATSAPP_GRAPH_URL = f"http://127.0.0.1:{unresponsive_listener}"
    settings.WHATSAPP_CONNECT_TIMEOUT = 0.3
    reset_backend()
    # when / then
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        _backend().send_text(to=PHONE, body="hi")
    assert not isinstance(caught.value, DeliveryUnknown)
    assert time.monotonic() - started < 3


# --- malformed answers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"messaging_product": "whatsapp", "contacts": [], "messages": []}', "application/json"),
        ('{"messaging_product": "whatsapp", "messages": [{"message_status": "accepted"}]}', "application/json"),
        ('{"messages": [{"id": ""}]}', "application/json"),
        ("<html>OK</html>", "text/html"),
        ("[1, 2, 3]", "application/json"),
        ("", "application/json"),
    ],
    ids=["no-messages", "no-id", "empty-id", "html", "json-array", "empty"],
)
def test_a_2xx_without_a_wamid_is_a_permanent_error(fake_meta: FakeMeta, body: str, content_type: str):
    # given "Meta" answers 200 with a body that has no messages[0].id
    fake_meta.inject("malformed", body=body, content_type=content_type)
    # when / then: a clear, permanent error (never a KeyError, never a silent success)
    with pytest.raises(PermanentError) as caught:
        _backend().send_text(to=PHONE, body="hi")
    assert type(caught.value) is PermanentError
    assert "wamid" in str(caught.value) or "not a JSON object" in str(caught.value)
    assert len(fake_meta.received) == 1


def test_a_4xx_with_a_non_meta_json_body_is_permanent(fake_meta: FakeMeta):
    fake_meta.inject("malformed", status=400, body='{"detail": "nope"}')
    with pytest.raises(PermanentError) as caught:
        _backend().send_text(to=PHONE, body="hi")
    assert caught.value.http_status == 400
    assert caught.value.code is None


def test_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 90))
    parsed = parse_retry_after(future)
    assert parsed is not None and 80 <= parsed <= 91


# --- send_batch -----------------------------------------------------------------------------


def test_send_batch_sends_concurrently_and_keeps_the_input_order(fake_meta: FakeMeta):
    # given Meta takes 100 ms per request and one recipient has opted out
    fake_meta.set_latency(100)
    fake_meta.inject("error", code=131050, recipient="+919800000017", count=None)
    messages = [
        OutboundMessage(to=f"+9198000000{i:02d}", template="order_shipped", language="en",
                        body_parameters=[str(i)], biz_opaque_callback_data=f"outbox:{i}")
        for i in range(50)
    ]
    # when the 50 are sent as a batch
    started = time.monotonic()
    results = _backend().send_batch(messages)
    elapsed = time.monotonic() - started
    # then they overlapped (sequentially they would take 5 s)
    assert elapsed < 2.0, elapsed
    # and result i belongs to message i
    wamid_by_recipient = {r["recipient"]: r.get("wamid") for r in fake_meta.received}
    assert len(results) == 50
    for i, (message, result) in enumerate(zip(messages, results, strict=True)):
        if i == 17:
            assert isinstance(result, PolicyRejection) and result.code == 131050
        else:
            assert isinstance(result, SendResult)
            assert result.wamid == wamid_by_recipient[message.to.lstrip("+")]
            assert result.wa_id == message.to.lstrip("+")
    # and each message was sent exactly once
    assert sorted(fake_meta.counts()["by_recipient"].values()) == [1] * 50


def test_send_batch_respects_the_concurrency_setting(fake_meta: FakeMeta, settings: Any):
    # given at most 5 sends at once and 100 ms per request
    settings.WHATSAPP_SEND_CONCURRENCY = 5
    reset_backend()
    fake_meta.set_latency(100)
    messages = [OutboundMessage(to=f"+9198000001{i:02d}", text=f"hi {i}") for i in range(20)]
    # when
    started = time.monotonic()
    results = _backend().send_batch(messages)
    # then 20 / 5 = 4 rounds of 100 ms at least
    assert time.monotonic() - started >= 0.38
    assert all(isinstance(r, SendResult) for r in results)


def test_send_batch_of_nothing_sends_nothing(fake_meta: FakeMeta):
    assert _backend().send_batch([]) == []
    assert fake_meta.received == []


def test_send_batch_uses_a_gevent_pool_when_sockets_are_patched(
    fake_meta: FakeMeta, monkeypatch: pytest.MonkeyPatch
):
    # given gevent reports a patched socket module (as under gunicorn/celery gevent workers)
    import gevent.pool

    used: list[int] = []
    real_pool = gevent.pool.Pool

    def recording_pool(size: int) -> Any:
        used.append(size)
        return real_pool(size)

    monkeypatch.setattr(cloud, "_gevent_active", lambda: True)
    monkeypatch.setattr(gevent.pool, "Pool", recording_pool)
    messages = [OutboundMessage(to=f"+9198000002{i:02d}", text="hi") for i in range(3)]
    # when
    results = _backend().send_batch(messages)
    # then the gevent pool did the sending, in order
    assert used == [3]
    assert [r.wa_id for r in results if isinstance(r, SendResult)] == [m.to.lstrip("+") for m in messages]


# --- business profile -----------------------------------------------------------------------


def test_business_profile_update_then_get_round_trips(fake_meta: FakeMeta, settings: Any):
    backend = _backend()
    # when the profile is updated
    backend.update_business_profile(
        {"about": "Fashion for everyone", "email": "support@pandorakart.in", "vertical": "APPAREL",
         "websites": ["https://pandorakart.in"]}
    )
    # then Meta got messaging_product and the fields
    update = fake_meta.received[0]
    assert update["method"] == "POST"
    assert update["path"].endswith(f"/{settings.WHATSAPP_PHONE_NUMBER_ID}/whatsapp_business_profile")
    assert update["json"]["messaging_product"] == "whatsapp"
    # and reading it back gives the fields without messaging_product
    profile = backend.get_business_profile()
    assert profile == {"about": "Fashion for everyone", "email": "support@pandorakart.in", "vertical": "APPAREL",
                       "websites": ["https://pandorakart.in"]}
    read = fake_meta.received[1]
    assert read["query"]["fields"] == "about,address,description,email,profile_picture_url,websites,vertical"


def test_business_profile_in_the_openapi_example_shape_is_unwrapped(fake_meta: FakeMeta):
    # given Meta answers in the nested shape of its OpenAPI example
    fake_meta.inject("malformed", endpoint="profile", body=json.dumps(
        {"data": [{"business_profile": {"messaging_product": "whatsapp", "about": "Hi"}}]}))
    # when / then
    assert _backend().get_business_profile() == {"about": "Hi"}


def test_business_profile_update_meta_rejects_is_a_permanent_error(fake_meta: FakeMeta):
    # when the About text is longer than Meta's 139 characters
    with pytest.raises(PermanentError) as caught:
        _backend().update_business_profile({"about": "x" * 140})
    # then the fake Meta refused it against its OpenAPI schema, with code 100
    assert caught.value.code == 100
    assert "about" in caught.value.details
    assert fake_meta.violations[0]["endpoint"] == "profile"


# --- message templates ----------------------------------------------------------------------

BODY = [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped.",
         "example": {"body_text": [["Asha", "PK-1042"]]}}]


def test_template_create_is_pending_and_list_follows_every_page(
    fake_meta: FakeMeta, settings: Any, monkeypatch: pytest.MonkeyPatch
):
    # given pages of 2 templates
    monkeypatch.setattr(cloud, "TEMPLATE_PAGE_SIZE", 2)
    backend = _backend()
    # when 5 templates are submitted
    submissions = [
        backend.create_message_template(name=f"order_update_{i}", language="en", category="UTILITY", components=BODY)
        for i in range(5)
    ]
    # then each is PENDING with Meta's id, posted with Meta's body shape
    assert {s.status for s in submissions} == {"PENDING"}
    assert {s.category for s in submissions} == {"UTILITY"}
    create = fake_meta.received[0]
    assert create["path"].endswith(f"/{settings.WHATSAPP_WABA_ID}/message_templates")
    assert create["json"] == {"name": "order_update_0", "language": "en", "category": "UTILITY",
                              "parameter_format": "POSITIONAL", "components": BODY}
    # and when Meta approves one and the list is read
    fake_meta.set_template_status(submissions[3].id, "APPROVED", quality_score="GREEN")
    listed = backend.list_message_templates()
    # then all pages were followed (3 GETs for 5 templates) with the fields we need
    assert [t["name"] for t in listed] == [f"order_update_{i}" for i in range(5)]
    gets = [r for r in fake_meta.received if r["method"] == "GET"]
    assert len(gets) == 3
    assert set(gets[0]["query"]["fields"].split(",")) >= {
        "id", "name", "language", "status", "category", "quality_score", "components", "rejected_reason"}
    approved = next(t for t in listed if t["id"] == submissions[3].id)
    assert approved["status"] == "APPROVED"
    assert approved["quality_score"] == {"score": "GREEN"}


def test_template_list_by_name_returns_only_that_name(fake_meta: FakeMeta):
    backend = _backend()
    backend.create_message_template(name="welcome", language="en", category="MARKETING", components=BODY)
    backend.create_message_template(name="welcome", language="hi", category="MARKETING", components=BODY)
    backend.create_message_template(name="welcome_back", language="en", category="MARKETING", components=BODY)
    listed = backend.list_message_templates(name="welcome")
    assert sorted(t["language"] for t in listed) == ["en", "hi"]


def test_duplicate_template_is_a_permanent_error(fake_meta: FakeMeta):
    backend = _backend()
    backend.create_message_template(name="welcome", language="en", category="MARKETING", components=BODY)
    with pytest.raises(PermanentError) as caught:
        backend.create_message_template(name="welcome", language="en", category="MARKETING", components=BODY)
    assert caught.value.code == 100


def test_template_paging_outside_the_graph_host_is_refused(fake_meta: FakeMeta):
    # given a paging.next that points at another host (the token must not follow it)
    fake_meta.inject("malformed", endpoint="templates", body=json.dumps(
        {"data": [{"id": "1", "name": "a"}], "paging": {"next": "https://evil.example/v23.0/x?after=1"}}))
    with pytest.raises(PermanentError):
        _backend().list_message_templates()
    assert len(fake_meta.received) == 1


def test_template_create_lost_answer_is_delivery_unknown(fake_meta: FakeMeta):
    fake_meta.inject("drop", endpoint="templates")
    with pytest.raises(DeliveryUnknown):
        _backend().create_message_template(name="welcome", language="en", category="MARKETING", components=BODY)
    assert len(fake_meta.templates) == 1  # it was created: a blind re-submit would duplicate


NEW_BODY = [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} was dispatched today.",
             "example": {"body_text": [["Asha", "PK-1042"]]}}]


def test_template_edit_replaces_the_components_and_meta_reviews_it_again(fake_meta: FakeMeta, settings: Any):
    # given a template Meta approved
    backend = _backend()
    submission = backend.create_message_template(name="order_update", language="en", category="UTILITY",
                                                 components=BODY)
    fake_meta.set_template_status(submission.id, "APPROVED", quality_score="GREEN")
    # when it is edited
    # (mypy knows it returns None; the test pins it at run time too)
    assert backend.edit_message_template(template_id=submission.id, components=NEW_BODY) is None  # type: ignore[func-returns-value]
    # then one POST /{template-id} carried the new components in Meta's edit shape
    [edit] = [r for r in fake_meta.received if r["endpoint"] == "template"]
    assert (edit["method"], edit["path"]) == ("POST", f"/{settings.WHATSAPP_API_VERSION}/{submission.id}")
    assert edit["json"] == {"components": NEW_BODY}
    assert (edit["status"], edit["outcome"]) == (200, "ok")
    # and Meta holds them (replaced as a whole), under review again, with the same id and category
    stored = fake_meta.templates[submission.id]
    assert (stored["components"], stored["status"], stored["category"]) == (NEW_BODY, "PENDING", "UTILITY")
    assert len(fake_meta.templates) == 1
    assert fake_meta.violations == []


def test_a_rejected_template_can_be_edited_with_its_category(fake_meta: FakeMeta):
    backend = _backend()
    submission = backend.create_message_template(name="promo", language="en", category="UTILITY", components=BODY)
    fake_meta.set_template_status(submission.id, "REJECTED", rejected_reason="INCORRECT_CATEGORY")
    backend.edit_message_template(template_id=submission.id, components=NEW_BODY, category="MARKETING")
    stored = fake_meta.templates[submission.id]
    assert (stored["category"], stored["status"], stored["rejected_reason"]) == ("MARKETING", "PENDING", "NONE")
    assert fake_meta.received[-1]["json"] == {"components": NEW_BODY, "category": "MARKETING"}


@pytest.mark.parametrize(
    ("status", "category", "says"),
    [
        ("PENDING", None, "status PENDING can't be edited"),
        ("DISABLED", None, "status DISABLED can't be edited"),
        ("APPROVED", "MARKETING", "category of an approved message template can't be changed"),
    ],
)
def test_an_edit_meta_refuses_is_a_permanent_error_sent_once(
    fake_meta: FakeMeta, status: str, category: str | None, says: str
):
    # given a template in a state where Meta refuses this edit
    backend = _backend()
    submission = backend.create_message_template(name="order_update", language="en", category="UTILITY",
                                                 components=BODY)
    if status != "PENDING":
        fake_meta.set_template_status(submission.id, status)
    # when it is edited / then Meta's refusal is a classified PermanentError (never retried)
    with pytest.raises(PermanentError) as caught:
        backend.edit_message_template(template_id=submission.id, components=NEW_BODY, category=category)
    assert not isinstance(caught.value, PolicyRejection)
    assert (caught.value.code, caught.value.http_status) == (100, 400)
    assert says in caught.value.details
    # and it was sent once, and Meta's template is unchanged
    assert [r["outcome"] for r in fake_meta.received if r["endpoint"] == "template"] == ["error:100"]
    stored = fake_meta.templates[submission.id]
    assert (stored["components"], stored["status"], stored["category"]) == (BODY, status, "UTILITY")


def test_editing_a_template_meta_does_not_hold_is_a_permanent_error(fake_meta: FakeMeta):
    with pytest.raises(PermanentError) as caught:
        _backend().edit_message_template(template_id="1000000000999", components=NEW_BODY)
    assert caught.value.code == 100 and "does not exist" in caught.value.title


def test_template_edit_without_success_in_the_answer_is_a_permanent_error(fake_meta: FakeMeta):
    fake_meta.inject("malformed", endpoint="template", body=json.dumps({"success": False}))
    with pytest.raises(PermanentError, match="did not confirm the template edit"):
        _backend().edit_message_template(template_id="1000000000001", components=NEW_BODY)


def test_template_edit_lost_answer_is_transient(fake_meta: FakeMeta):
    # given an approved template, and Meta's answer to the edit is lost after Meta applied it
    backend = _backend()
    submission = backend.create_message_template(name="order_update", language="en", category="UTILITY",
                                                 components=BODY)
    fake_meta.set_template_status(submission.id, "APPROVED")
    fake_meta.inject("drop", endpoint="template")
    # then it is transient (an edit is idempotent: re-sending it cannot duplicate anything)
    with pytest.raises(TransientError):
        backend.edit_message_template(template_id=submission.id, components=NEW_BODY)
    assert fake_meta.templates[submission.id]["components"] == NEW_BODY

# --- the fake server's schema checks --------------------------------------------------------


def test_fake_meta_rejects_a_body_that_violates_metas_schema(fake_meta: FakeMeta, settings: Any):
    # given a send body with an unknown recipient_type, no `to` and an over-long text
    url = f"{fake_meta.url}/{settings.WHATSAPP_API_VERSION}/{settings.WHATSAPP_PHONE_NUMBER_ID}/messages"
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "person", "type": "text",
                            "text": {"body": "x" * 4097}}
    # when it is posted
    response = requests.post(url, json=body, headers={"Authorization": f"Bearer {fake_meta.token}"}, timeout=5)
    # then Meta-shaped 400, code 100, naming each violation, and recorded
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 100
    assert error["type"] == "OAuthException"
    [violation] = fake_meta.violations
    assert set(violation["errors"]) == {
        "to: is required",
        "recipient_type: must be one of ['individual', 'group'], got 'person'",
        "text.body: is longer than 4096 characters (4097)",
    }


def test_a_send_the_schema_rejects_reaches_the_caller_as_permanent(fake_meta: FakeMeta):
    with pytest.raises(PermanentError) as caught:
        _backend().send_text(to=PHONE, body="x" * 5000)
    assert caught.value.code == 100
    assert "4096" in caught.value.details
