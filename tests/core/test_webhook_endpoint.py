"""GET/POST /webhooks/whatsapp: subscription check, signature, storage and deduplication."""

from __future__ import annotations

import json

import pytest

from pandorakart_wa.webhooks.models import WebhookEvent
from pandorakart_wa.whatsapp.signature import sign

pytestmark = pytest.mark.django_db

PAYLOAD = {
    "object": "whatsapp_business_account",
    "entry": [{"id": "102290129340398", "changes": [{"field": "test_field", "value": {"n": 1}}]}],
}


def post(client, body: bytes, signature: str | None):
    headers = {"HTTP_X_HUB_SIGNATURE_256": signature} if signature is not None else {}
    return client.post("/webhooks/whatsapp", data=body, content_type="application/json", **headers)


def test_subscription_challenge_is_echoed_for_the_right_token(client, settings):
    response = client.get(
        "/webhooks/whatsapp",
        {"hub.mode": "subscribe", "hub.verify_token": settings.WHATSAPP_VERIFY_TOKEN, "hub.challenge": "1158201444"},
    )
    assert response.status_code == 200
    assert response.content == b"1158201444"


def test_subscription_with_a_wrong_token_is_403(client):
    response = client.get("/webhooks/whatsapp", {"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"})
    assert response.status_code == 403


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "sha1=abc", ""])
def test_bad_signature_is_403_and_nothing_is_stored(client, signature):
    response = post(client, json.dumps(PAYLOAD).encode(), signature)
    assert response.status_code == 403
    assert WebhookEvent.objects.count() == 0


def test_signed_event_is_stored_once_and_its_update_applied_once(client, settings):
    # given a management update of a field the service records
    body = json.dumps(PAYLOAD).encode()
    signature = sign(body, settings.WHATSAPP_APP_SECRET)
    # when the same payload is delivered three times
    responses = [post(client, body, signature) for _ in range(3)]
    # then it is stored once, its one update recorded once
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [r.json()["duplicate"] for r in responses] == [False, True, True]
    event = WebhookEvent.objects.get()
    assert event.fields == ["test_field"] and event.processed_at is not None
    [item] = event.items.all()
    assert (item.kind, item.state) == ("other", "skipped")


def test_body_changed_by_one_byte_is_refused(client, settings):
    body = json.dumps(PAYLOAD).encode()
    signature = sign(body, settings.WHATSAPP_APP_SECRET)
    response = post(client, body.replace(b'"n": 1', b'"n": 2'), signature)
    assert response.status_code == 403


def test_unknown_fields_are_stored_and_ignored(client, settings):
    body = json.dumps({"object": "x", "entry": [{"changes": [{"field": "brand_new", "value": {"a": [1]}}]}]}).encode()
    response = post(client, body, sign(body, settings.WHATSAPP_APP_SECRET))
    assert response.status_code == 200
    assert WebhookEvent.objects.get().fields == ["brand_new"]


def test_signed_garbage_is_400(client, settings):
    body = b"not json"
    response = post(client, body, sign(body, settings.WHATSAPP_APP_SECRET))
    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 0

