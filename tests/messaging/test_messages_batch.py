"""POST /api/v1/messages/batch, and what the single endpoint costs in queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.models import Message, MessageEvent, MessageStatus, SendingPolicy
from tests.consent.factories import indian_mobile
from tests.messaging.sending_helpers import customer, marketing_template, opt_out, utility_template

pytestmark = pytest.mark.django_db

SHIPPED = {"template": "order_shipped", "language": "en", "variables": ["Ravi", "PK-10023", "27 Nov"]}
OFFER = {"template": "festive_offer", "language": "en", "variables": ["Priya", "40%"]}


def batch(client, messages):
    return client.post("/api/v1/messages/batch", data={"messages": messages}, format="json")


@pytest.fixture
def no_quiet_hours():
    SendingPolicy.objects.update_or_create(pk=1, defaults={"quiet_hours_start": dt.time(0, 0),
                                                           "quiet_hours_end": dt.time(0, 0)})


def test_a_message_costs_three_queries(api_client):
    # given a consenting customer and a usable template, warmed once (the revision's variable count
    # is cached, and the API key, verified once, is remembered)
    customer(1)
    utility_template()
    assert api_client.post("/api/v1/messages", data={"to": indian_mobile(1), **SHIPPED}, format="json").status_code == 202
    # when another message is posted
    with CaptureQueriesContext(connection) as queries:
        response = api_client.post("/api/v1/messages", data={"to": indian_mobile(1), **SHIPPED}, format="json")
    # then: the template, consent with the contact's send facts, one INSERT of row and event
    assert response.status_code == 202
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements == ["SELECT", "SELECT", "WITH"], [q["sql"][:80] for q in queries.captured_queries]
    message = Message.objects.get(pk=response.json()["id"])
    assert list(message.events.values_list("status", "source")) == [(MessageStatus.QUEUED, MessageEvent.Source.API)]


def test_a_batch_costs_the_same_queries_however_many_messages(api_client):
    utility_template()
    for n in range(1, 6):
        customer(n)
    batch(api_client, [{"to": indian_mobile(1), **SHIPPED}])  # warm-up
    with CaptureQueriesContext(connection) as queries:
        response = batch(api_client, [{"to": indian_mobile(n), **SHIPPED} for n in range(1, 6)] * 20)
    assert response.status_code == 200
    assert {r["status"] for r in response.json()["results"]} == {202}
    assert len(queries.captured_queries) == 3
    assert Message.objects.count() == 101


def test_each_item_is_judged_alone_and_one_bad_item_refuses_no_other(api, outbox):
    # given two consenting customers, one who opted out, and a number never seen
    utility_template()
    ok_1, ok_2, gone = customer(1), customer(2), customer(3)
    opt_out(gone, ["order_updates"])
    # when a batch mixes good and bad messages
    response = batch(api, [
        {"to": ok_1.phone, **SHIPPED},
        {"to": "12345", **SHIPPED},
        {"to": ok_2.phone, **{**SHIPPED, "variables": ["only one"]}},
        {"to": gone.phone, **SHIPPED},
        {"to": indian_mobile(99), **SHIPPED},
        {"to": ok_2.phone, "template": "nope", "variables": []},
        {"to": ok_2.phone, "text": "hi", **SHIPPED},
        "not an object",
        {"to": ok_2.phone, **SHIPPED},
    ])
    # then every item has its own answer, in order, as the single endpoint would give it
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(9))
    assert [(r["status"], r.get("code")) for r in results] == [
        (202, None), (400, "invalid"), (400, "invalid"), (422, "opted_out"), (422, "consent_missing"),
        (400, "invalid"), (400, "invalid"), (400, "invalid"), (202, None),
    ]
    assert "to" in results[1]["fields"]
    assert "variables" in results[2]["fields"]
    assert "template" in results[5]["fields"]
    assert "template" in results[6]["fields"]
    assert "non_field_errors" in results[7]["fields"]
    # and only the accepted ones were queued, and sent by the dispatcher once the request committed
    assert {str(i) for i in Message.objects.values_list("id", flat=True)} == {results[0]["id"], results[8]["id"]} == {
        m["biz_opaque_callback_data"] for m in outbox}


def test_idempotency_keys_per_item_replay_and_conflict_like_the_single_endpoint(api, outbox):
    utility_template()
    a = customer(1)
    single = api.post("/api/v1/messages", data={"to": a.phone, **SHIPPED}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert single.status_code == 202
    response = batch(api, [
        {"to": a.phone, **SHIPPED, "idempotency_key": "k-1"},  # the same message as the single POST
        {"to": a.phone, **{**SHIPPED, "variables": ["Ravi", "PK-2", "28 Nov"]}, "idempotency_key": "k-1"},
        {"to": a.phone, **{**SHIPPED, "variables": ["Ravi", "PK-3", "28 Nov"]}, "idempotency_key": "k-2"},
        {"to": a.phone, **{**SHIPPED, "variables": ["Ravi", "PK-3", "28 Nov"]}, "idempotency_key": "k-2"},
        {"to": a.phone, **SHIPPED, "idempotency_key": "k" * 256},
    ])
    results = response.json()["results"]
    assert [(r["status"], r.get("code")) for r in results] == [
        (202, None), (409, "idempotency_conflict"), (202, None), (202, None), (400, "invalid")]
    assert results[0]["id"] == single.json()["id"]
    assert results[2]["id"] == results[3]["id"]
    assert "idempotency_key" in results[4]["fields"]
    assert Message.objects.count() == 2
    # and the batch's key replays through the single endpoint too
    again = api.post("/api/v1/messages", data={"to": a.phone, **{**SHIPPED, "variables": ["Ravi", "PK-3", "28 Nov"]}},
                     format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert again.json()["id"] == results[2]["id"]


def test_a_customer_named_twice_in_a_batch_counts_against_the_marketing_cap(api_client, no_quiet_hours):
    # given the default cap of 2 marketing messages in 7 days
    marketing_template()
    c = customer(1)
    # when one batch holds three offers to the same customer
    response = batch(api_client, [{"to": c.phone, **OFFER}] * 3)
    # then the third is capped, as a third single request would be
    assert [(r["status"], r.get("code")) for r in response.json()["results"]] == [
        (202, None), (202, None), (422, "frequency_capped")]


@pytest.mark.parametrize("messages", [None, [], "x", [{"to": "+919876500001"}] * 1001])
def test_the_batch_itself_must_be_a_list_of_1_to_1000(api_client, messages):
    body = {} if messages is None else {"messages": messages}
    response = api_client.post("/api/v1/messages/batch", data=body, format="json")
    assert response.status_code == 400
    assert "messages" in response.json()["fields"]
    assert Message.objects.count() == 0


def test_the_batch_needs_the_messages_scope(db):
    from rest_framework.test import APIClient

    from pandorakart_wa.core.api.keys import api_key_create

    _, key = api_key_create(name="consent-only", scopes=["consent"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert batch(client, [{"to": "+919876500001", **SHIPPED}]).status_code == 403


def test_the_schema_describes_the_batch(anon_client):
    schema = anon_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/messages/batch"]["post"]
    assert operation["operationId"] == "messages_send_batch"
    result = schema["components"]["schemas"]["MessageBatchResult"]["properties"]
    assert {"index", "status", "id", "code", "fields"} <= set(result)
