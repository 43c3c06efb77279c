"""POST/GET /api/v1/messages: accepted, gated, idempotent, and sent through the pipeline."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from messaging.models import Message, MessageStatus, SendingPolicy
from tests.messaging.sending_helpers import customer, marketing_template, opt_out, utility_template

pytestmark = pytest.mark.django_db

SHIPPED = {"template": "order_shipped", "language": "en", "variables": ["Ravi", "PK-10023", "27 Nov"]}


def send(client, to, body=SHIPPED, **headers):
    return client.post("/api/v1/messages", data={"to": to, **body}, format="json", **headers)


def test_a_template_message_is_queued_then_sent_once(api, outbox):
    # given a customer who consented to order updates, and an approved utility template
    contact = customer(1)
    utility_template()
    # when the storefront sends it (national format accepted)
    response = send(api, "9876500001")
    # then it is accepted, masked, and (eager worker) sent with its id as callback data
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["to"] == "+91******0001"
    assert body["purpose"] == "order_updates"
    assert body["created_at"].endswith("Z")  # API.md: times in responses are UTC
    assert [m["to"] for m in outbox] == [contact.phone]
    assert outbox[0]["biz_opaque_callback_data"] == body["id"]
    assert outbox[0]["body_parameters"] == ["Ravi", "PK-10023", "27 Nov"]
    detail = api.get(f"/api/v1/messages/{body['id']}").json()
    assert detail["status"] == "sent"
    assert detail["wamid"] == outbox[0]["wamid"]
    assert [e["status"] for e in detail["events"]] == ["queued", "sending", "sent"]
    assert detail["error"] is None


def test_idempotency_key_replays_the_same_message_and_refuses_another_body(api, outbox):
    customer(1)
    utility_template()
    first = send(api, "+919876500001", HTTP_IDEMPOTENCY_KEY="order-PK-10023-shipped")
    again = send(api, "+919876500001", HTTP_IDEMPOTENCY_KEY="order-PK-10023-shipped")
    other = send(api, "+919876500001", {**SHIPPED, "variables": ["Ravi", "PK-99999", "28 Nov"]},
                 HTTP_IDEMPOTENCY_KEY="order-PK-10023-shipped")
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_conflict"
    assert Message.objects.count() == 1
    assert len(outbox) == 1


def test_too_long_idempotency_key_is_400(api):
    response = send(api, "+919876500001", HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["fields"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "12345", **SHIPPED}, "to"),
        ({"to": "+919876500001", "template": "nope", "variables": []}, "template"),
        ({"to": "+919876500001", **{**SHIPPED, "variables": ["only one"]}}, "variables"),
        ({"to": "+919876500001"}, "template"),
        ({"to": "+919876500001", "text": "hi", **SHIPPED}, "template"),
        ({"to": "+919876500001", "text": "x" * 4097}, "text"),
    ],
)
def test_bad_fields_are_named_and_nothing_is_queued(api, body, field):
    customer(1)
    utility_template()
    response = api.post("/api/v1/messages", data=body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert Message.objects.count() == 0


def test_unknown_number_is_consent_missing(api):
    utility_template()
    response = send(api, "+919876599999")
    assert response.status_code == 422
    assert response.json()["code"] == "consent_missing"
    assert Message.objects.count() == 0


def test_opted_out_customer_is_refused(api, outbox):
    contact = customer(1)
    utility_template()
    opt_out(contact, ["order_updates"])
    response = send(api, "+919876500001")
    assert response.status_code == 422
    assert response.json()["code"] == "opted_out"
    assert outbox == []


def test_marketing_needs_marketing_consent(api):
    customer(1, purposes=["order_updates"])
    marketing_template()
    response = send(api, "+919876500001", {"template": "festive_offer", "variables": ["Priya", "40%"]})
    assert response.status_code == 422
    assert response.json()["code"] == "consent_missing"


def test_paused_template_is_refused(api):
    customer(1)
    template = utility_template()
    template.meta_status = "PAUSED"
    template.save()
    response = send(api, "+919876500001")
    assert response.status_code == 422
    assert response.json()["code"] == "template_paused"


def test_unapproved_template_is_refused(api):
    customer(1)
    template = utility_template()
    template.meta_status = "PENDING"
    template.save()
    assert send(api, "+919876500001").json()["code"] == "template_not_approved"


def test_marketing_frequency_cap(api, outbox, settings):
    # given the default cap of 2 marketing messages per 7 days, outside quiet hours
    customer(1)
    marketing_template()
    SendingPolicy.objects.update_or_create(pk=1, defaults={"quiet_hours_start": dt.time(0, 0),
                                                           "quiet_hours_end": dt.time(0, 0)})
    offer = {"template": "festive_offer", "variables": ["Priya", "40%"]}
    # when three are sent
    first, second, third = (send(api, "+919876500001", offer) for _ in range(3))
    # then the third is capped; the second waits for Meta's 6-second pair rate
    assert (first.status_code, second.status_code) == (202, 202)
    assert third.status_code == 422
    assert third.json()["code"] == "frequency_capped"
    assert Message.objects.count() == 2
    assert len(outbox) == 1
    assert Message.objects.get(pk=second.json()["id"]).reason == "pair_rate"


def test_marketing_in_quiet_hours_waits_for_the_morning(api, outbox, monkeypatch):
    # given it is 22:30 in India
    customer(1)
    marketing_template()
    late = dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.UTC)  # 22:30 IST
    monkeypatch.setattr(timezone, "now", lambda: late)
    # when a marketing message is sent
    response = send(api, "+919876500001", {"template": "festive_offer", "variables": ["Priya", "40%"]})
    # then it is accepted, deferred to 09:00 IST, and nothing leaves now
    assert response.status_code == 202
    message = Message.objects.get()
    assert message.status == MessageStatus.QUEUED
    assert message.not_before == dt.datetime(2026, 11, 28, 3, 30, tzinfo=dt.UTC)  # 09:00 IST
    assert message.reason == "quiet_hours"
    assert outbox == []


def test_utility_messages_ignore_quiet_hours(api, outbox, monkeypatch):
    customer(1)
    utility_template()
    monkeypatch.setattr(timezone, "now", lambda: dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.UTC))
    assert send(api, "+919876500001").status_code == 202
    assert len(outbox) == 1


def test_free_text_needs_the_service_window(api, outbox):
    contact = customer(1, purposes=["support"])
    closed = api.post("/api/v1/messages", data={"to": contact.phone, "text": "How can we help?"}, format="json")
    assert closed.status_code == 422
    assert closed.json()["code"] == "outside_service_window"
    # the customer writes in: the window opens
    contact.last_inbound_at = timezone.now() - dt.timedelta(hours=23)
    contact.save()
    opened = api.post("/api/v1/messages", data={"to": contact.phone, "text": "How can we help?"}, format="json")
    assert opened.status_code == 202
    assert opened.json()["purpose"] == "support"
    assert outbox[0]["body"] == "How can we help?"


def test_unknown_message_is_404(api):
    assert api.get("/api/v1/messages/not-a-uuid").status_code == 404
    response = api.get("/api/v1/messages/6f1c3c5e-7a39-4d8e-9a53-8f7d16f2a1b0")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_messages_need_the_messages_scope(db):
    from rest_framework.test import APIClient

    from pandorakart_wa.core.api.keys import api_key_create

    _, key = api_key_create(name="consent-only", scopes=["consent"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert send(client, "+919876500001").status_code == 403


@pytest.mark.parametrize(("body", "field"), [
    ({"to": 919876500001, "template": "order_shipped", "variables": ["a", "b", "c"]}, "to"),
    ({"to": "+919876500001", "template": "order_shipped", "variables": ["a", 2, "c"]}, "variables"),
    ({"to": "+919876500001", "text": 12}, "text"),
    ({"to": "+919876500001", "template": ["order_shipped"]}, "template"),
])
def test_wrong_json_types_are_refused_naming_the_field(api_client, body, field):
    response = api_client.post("/api/v1/messages", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and field in response.json()["fields"]
    assert not Message.objects.exists()


@pytest.mark.parametrize(("body", "field"), [
    ({"to": "+919876500001", **{**SHIPPED, "template": "order\x00shipped"}}, "template"),
    ({"to": "+919876500001", **{**SHIPPED, "language": "e\x00n"}}, "language"),
    ({"to": "+919876500001", **{**SHIPPED, "variables": ["Ravi", "PK\x0010023", "27 Nov"]}}, "variables"),
    ({"to": "+919876500001", "text": "hi\x00"}, "text"),
])
def test_nul_characters_are_refused_naming_the_field(api, body, field):
    # PostgreSQL text holds no NUL: the API's fast path refuses them as the serializer does (a 400,
    # not the database's error)
    customer(1)
    utility_template()
    response = api.post("/api/v1/messages", data=body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    batched = api.post("/api/v1/messages/batch", data={"messages": [body]}, format="json")
    assert batched.status_code == 200, batched.content
    assert field in batched.json()["results"][0]["fields"]
    assert Message.objects.count() == 0


def test_variables_and_texts_are_encrypted_at_rest(api_client):
    # given a template message with the customer's name and order, and a free-form text
    from django.db import connection

    from tests.messaging.sending_helpers import customer, inbound_text, post_webhook, utility_template

    utility_template()
    customer(1, purposes=("order_updates", "support"))
    api_client.post("/api/v1/messages", {"to": "+919876500001", "template": "order_shipped",
                                         "variables": ["Ravi Kumar", "PK-10023", "27 Nov"]}, format="json")
    post_webhook(api_client, inbound_text("919876500001", "hello"))
    api_client.post("/api/v1/messages", {"to": "+919876500001", "text": "Your refund for PK-10023 is on its way"},
                    format="json")
    # then the columns hold Fernet tokens only, and the application reads them back
    with connection.cursor() as cursor:
        cursor.execute("SELECT variables, text FROM messaging_message")
        rows = cursor.fetchall()
    dump = repr(rows)
    assert len(rows) == 2 and "Ravi" not in dump and "PK-10023" not in dump and "refund" not in dump
    assert all(v.startswith("gAAAA") for v, _ in rows)
    assert sorted(m.text or ",".join(m.variables) for m in Message.objects.all()) == [
        "Ravi Kumar,PK-10023,27 Nov", "Your refund for PK-10023 is on its way"]
