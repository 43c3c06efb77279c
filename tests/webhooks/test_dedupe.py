"""Dedupe by Meta's ids, not by bytes; Meta's order, not delivery order."""

from __future__ import annotations

import json
import time

import pytest

from consent.models import ConsentEvent, ConsentState
from consent.seed import seed_keywords
from messaging.models import Message, MessageKind
from pandorakart_wa.webhooks.models import WebhookEvent, WebhookItem
from tests.messaging.sending_helpers import customer
from tests.webhooks.helpers import messages, post, post_raw, text

pytestmark = pytest.mark.django_db

WA = "919876500001"


@pytest.fixture
def ravi():
    seed_keywords()
    return customer(1)


def marketing(contact) -> str:
    return ConsentState.objects.get(contact=contact, purpose="marketing").status


def opt_outs(contact) -> int:
    return ConsentEvent.objects.filter(contact=contact, action="opt_out").count()


def confirmations(contact) -> int:
    return Message.objects.filter(contact=contact, kind=MessageKind.CONFIRMATION).count()


def test_a_reserialised_redelivery_is_applied_once(client, ravi):
    # given a STOP, and the same STOP re-serialised (other spacing, other key order)
    payload = messages([text(WA, "STOP", wamid="wamid.stop")])
    first = json.dumps(payload).encode()
    second = json.dumps(payload, indent=2, sort_keys=True).encode()
    assert first != second
    # when both arrive
    responses = [post_raw(client, first), post_raw(client, second)]
    # then both are stored (other bytes), the STOP applied and confirmed once
    assert [r.json()["duplicate"] for r in responses] == [False, False]
    assert WebhookEvent.objects.count() == 2 and WebhookItem.objects.count() == 1
    assert opt_outs(ravi) == 1 and confirmations(ravi) == 1


def test_a_stop_rebatched_with_other_messages_is_applied_once(client, ravi):
    customer(2)
    post(client, messages([text(WA, "STOP", wamid="wamid.stop")]))
    post(client, messages([text("919876500002", "hello", wamid="wamid.other"), text(WA, "STOP", wamid="wamid.stop")]))
    assert opt_outs(ravi) == 1 and confirmations(ravi) == 1
    assert WebhookItem.objects.count() == 2


def test_an_old_stop_redelivered_after_a_start_changes_nothing(client, ravi):
    now = int(time.time())
    stop = messages([text(WA, "STOP", wamid="wamid.stop", at=now - 60)])
    post(client, stop)
    post(client, messages([text(WA, "START", wamid="wamid.start", at=now - 30)]))
    assert marketing(ravi) == "opted_in"
    # when Meta redelivers the old STOP (in another batch, say)
    post(client, messages([text("919876500099", "hi", wamid="wamid.x"), *stop["entry"][0]["changes"][0]["value"]["messages"]]))
    # then the customer stays subscribed
    assert marketing(ravi) == "opted_in"
    assert opt_outs(ravi) == 1


def test_a_start_delivered_after_a_later_stop_is_superseded(client, ravi):
    # given the customer sent START then STOP, and Meta delivers the STOP first
    now = int(time.time())
    post(client, messages([text(WA, "STOP", wamid="wamid.stop", at=now - 10)]))
    post(client, messages([text(WA, "START", wamid="wamid.start", at=now - 20)]))
    # then the later STOP stands, and the START says it was superseded
    assert marketing(ravi) == "opted_out"
    start = WebhookItem.objects.get(opt_out=False)
    assert start.state == "applied" and "superseded" in start.note


def test_a_stop_delivered_after_a_later_start_is_superseded(client, ravi):
    # given the customer sent STOP then START, and Meta delivers the START first: START restores
    # nothing (nothing was stopped yet), then the older STOP arrives
    now = int(time.time())
    post(client, messages([text(WA, "STOP PROMOTIONS", wamid="wamid.stop0", at=now - 100)]))
    post(client, messages([text(WA, "START", wamid="wamid.start", at=now - 10)]))
    post(client, messages([text(WA, "STOP", wamid="wamid.stop", at=now - 20)]))
    assert marketing(ravi) == "opted_in"
    assert "superseded" in WebhookItem.objects.get(opt_out=True, note__contains="STOP:").note


def test_two_statuses_of_one_message_are_two_updates(client, ravi):
    from tests.messaging.sending_helpers import status_item, statuses_payload

    post(client, statuses_payload([status_item("wamid.out.1", "sent"), status_item("wamid.out.1", "delivered")]))
    post(client, statuses_payload([status_item("wamid.out.1", "delivered")]))
    assert sorted(WebhookItem.objects.values_list("kind", flat=True)) == ["status", "status"]
