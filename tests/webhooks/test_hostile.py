"""Hostile input is normal input: odd bytes, odd shapes and odd values in correctly signed
bodies are stored and answered 200, and never take the opt-outs beside them down."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from consent.models import ConsentEvent, ConsentState, Contact
from consent.seed import seed_keywords
from pandorakart_wa.core.fields import decrypt_bytes
from pandorakart_wa.webhooks.models import WebhookEvent, WebhookItem
from tests.messaging.sending_helpers import customer
from tests.webhooks.helpers import messages, post, post_raw, text

pytestmark = pytest.mark.django_db

STOPPER = "919876500007"  # customer(7)


@pytest.fixture(autouse=True)
def _keywords():
    seed_keywords()


def marketing_of(wa_id: str) -> str:
    return ConsentState.objects.get(contact__phone_digest=Contact.objects.get(
        pk=customer_pk(wa_id)).phone_digest, purpose="marketing").status


def customer_pk(wa_id: str) -> int:
    from pandorakart_wa.core.phones import phone_digest

    return Contact.objects.get(phone_digest=phone_digest("+" + wa_id)).pk


def stop_beside(bad: dict[str, Any]) -> dict[str, Any]:
    """A batch: a bad item first, then a valid STOP from another customer."""
    payload = messages([bad, text(STOPPER, "STOP", wamid="wamid.stop.7")],
                       contacts=[{"wa_id": STOPPER, "profile": {"name": "Seven"}}])
    return payload


@pytest.mark.parametrize("body", [
    b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {"x": "\\u0000"}}]}]}',
    b'{"entry": [{"changes": [{"field": "messages", "value": {"x": "\\ud800 lone"}}]}]}',
    b'{"entry": [{"changes": [{"field": "messages", "value": {"x": NaN, "y": Infinity, "z": -Infinity}}]}]}',
    b'\xef\xbb\xbf{"entry": []}',
    '{"entry": [{"changes": [{"field": "messages", "value": {"x": "ü"}}]}]}'.encode("utf-16"),
    b'{"entry": [{"changes": [{"field": "x", "value": {"n": 1e999999}}]}]}',
    b'{"entry": [{"changes": [{"field": "x", "value": {"n": ' + b"9" * 5000 + b'}}]}]}',
    b"[" * 5000 + b"]" * 5000,
    b'{"entry": 5}',
    b'{"entry": [{"changes": 7}]}',
    b'{"entry": [{"changes": [{"field": "messages", "value": "text"}]}]}',
    b'[]',
    b'"just a string"',
], ids=["nul", "lone-surrogate", "nan-infinity", "utf8-bom", "utf16", "1e999999", "5000-digit-int", "nested-5000",
        "entry-number", "changes-number", "value-string", "array", "string"])
def test_a_signed_json_body_of_any_shape_is_stored_and_answered_200(client, body):
    response = post_raw(client, body)
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get()
    assert event.body_token is not None
    assert decrypt_bytes(event.body_token) == body  # the bytes as they came, encrypted
    assert event.split_at is not None and event.processed_at is not None


@pytest.mark.parametrize("body", [b"not json", b'{"entry": [', b"\xff\xfe\x00", b""])
def test_bytes_that_are_not_json_are_400_and_nothing_is_stored(client, body):
    response = post_raw(client, body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "not valid JSON" in response.json()["detail"]
    assert not WebhookEvent.objects.exists()


def test_nul_and_surrogates_in_a_customers_text_do_not_stop_the_stop_beside_it(client):
    customer(7)
    customer(8)
    bad = text("919876500008", "hello \u0000 \ud800 there", wamid="wamid.bad.8")
    response = post(client, stop_beside(bad))
    assert response.status_code == 200
    assert marketing_of(STOPPER) == "opted_out"
    assert Contact.objects.get(pk=customer_pk("919876500008")).last_inbound_at is not None


@pytest.mark.parametrize("bad", [
    {"from": "12345678", "id": "wamid.meta-sample", "timestamp": "1753919111", "type": "button",
     "button": {"payload": "DID_NOT_REQUEST_CODE", "text": "I didn't request a code"}},  # Meta's own sample sender
    {"from": "972987654321", "id": "wamid.il", "timestamp": "1697043223", "type": "text", "text": {"body": "Hi"}},
    {"from": "919876500008", "id": "wamid.iso", "timestamp": "2026-12-01T10:00:00Z", "type": "text",
     "text": {"body": "an ISO timestamp"}},
    {"from": "919876500008", "id": "wamid.bare", "timestamp": "1764500000", "type": "text", "text": "STOP"},
    {"from": "919876500008", "from_user_id": "IN." + "9" * 500, "id": "wamid.longuid", "timestamp": "1764500000",
     "type": "text", "text": {"body": "a long user id"}},
    {"from": "919876500008", "id": "wamid.err", "timestamp": "1764500000", "type": "unsupported",
     "errors": [{"code": 2**63 - 1, "title": "64-bit code"}]},
    {"from": ["not", "a", "string"], "id": {"no": 1}, "timestamp": None, "type": 5},
    "a string where a message belongs",
], ids=["sample-sender-12345678", "unvalidated-972", "iso-timestamp", "text-as-string", "long-user-id",
        "64-bit-error-code", "wrong-types", "string-item"])
def test_a_bad_item_beside_a_stop_never_drops_the_stop(client, bad):
    # given a customer with marketing consent, and a batch whose first item is odd
    customer(7)
    customer(8)
    # when the batch arrives
    response = post(client, stop_beside(bad))
    # then it is answered, the STOP is in force, and no item failed
    assert response.status_code == 200
    assert marketing_of(STOPPER) == "opted_out"
    assert not WebhookItem.objects.filter(state__in=["failed", "dead"]).exists(), list(
        WebhookItem.objects.values_list("kind", "state", "last_error"))


def test_a_sender_libphonenumber_rejects_is_still_recorded_and_can_opt_out(client):
    post(client, messages([text("972987654321", "STOP", wamid="wamid.il.stop")]))
    contact = Contact.objects.get()
    assert contact.phone == "+972987654321"
    assert ConsentEvent.objects.filter(contact=contact, action="opt_out", purpose="marketing").exists()


def test_a_bare_string_text_stop_is_a_stop(client):
    customer(7)
    message = {"from": STOPPER, "id": "wamid.s", "timestamp": str(int(time.time())), "type": "text", "text": "STOP"}
    post(client, messages([message]))
    assert marketing_of(STOPPER) == "opted_out"


def test_fullwidth_stop_is_a_keyword(client):
    customer(7)
    fullwidth_stop = "\uff33\uff34\uff2f\uff30"
    post(client, messages([text(STOPPER, fullwidth_stop, wamid="wamid.fullwidth")]))
    assert marketing_of(STOPPER) == "opted_out"


def test_a_future_timestamp_counts_as_receipt_time(client):
    # given a message stamped in 2100
    customer(7)
    before = time.time()
    post(client, messages([text(STOPPER, "hello", wamid="wamid.future", at=4102444800)]))
    # then the service window opened now, not in 2100
    contact = Contact.objects.get(pk=customer_pk(STOPPER))
    assert contact.last_inbound_at is not None
    assert before - 1 <= contact.last_inbound_at.timestamp() <= time.time() + 1
    assert WebhookItem.objects.get().occurred_at == contact.last_inbound_at


def test_no_plaintext_number_name_or_text_is_stored(client):
    # given a message with the customer's number, name and words
    post(client, messages([text("919876500009", "my address is 12 MG Road", wamid="wamid.private")],
                          contacts=[{"wa_id": "919876500009", "profile": {"name": "Priya Sharma"}}]))
    # then no column of the webhook tables holds them in the clear
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(e)::text FROM core_webhookevent e UNION ALL "
                       "SELECT row_to_json(i)::text FROM core_webhookitem i")
        dump = "\n".join(row[0] for row in cursor.fetchall())
    for secret in ("919876500009", "9876500009", "Priya", "MG Road", "wamid.private"):
        assert secret not in dump
    assert json.loads(WebhookItem.objects.get().payload)["data"]["text"] == "my address is 12 MG Road"


def test_webhooks_are_served_by_a_handler_without_the_staff_middleware():
    # the production WSGI application sends /webhooks/ to a handler with its own middleware
    from pandorakart_wa.webhooks.wsgi import WEBHOOK_MIDDLEWARE, WebhookHandler

    handler = WebhookHandler()
    # Django's private attribute (set by load_middleware), which django-stubs does not declare
    chain, names = handler._middleware_chain, []  # type: ignore[attr-defined]
    while chain is not None:
        cells = [c.cell_contents for c in (getattr(chain, "__closure__", None) or [])]
        middleware = next((c for c in cells if hasattr(c, "get_response")), None)
        if middleware is None:
            break
        names.append(f"{type(middleware).__module__}.{type(middleware).__name__}")
        chain = middleware.get_response
    assert names == WEBHOOK_MIDDLEWARE
    assert "django.contrib.sessions.middleware.SessionMiddleware" not in names
