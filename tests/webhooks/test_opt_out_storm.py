"""A storm of STOPs in one body (after a campaign): applied together, each as it would be alone."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from complaints.models import ComplaintSignal, SignalKind
from consent.models import ConsentEvent, ConsentState, Contact
from consent.seed import seed_keywords
from consent.services.erasure import consent_erase
from consent.types import Actor
from messaging.models import Message, MessageKind, MessageStatus
from pandorakart_wa.core.phones import phone_digest
from pandorakart_wa.webhooks import optouts
from pandorakart_wa.webhooks.models import WebhookItem
from tests.consent.factories import indian_mobile
from tests.messaging.sending_helpers import customer, marketing_template
from tests.webhooks.helpers import envelope, messages, post, text

pytestmark = pytest.mark.django_db


def wa(n: int) -> str:
    return indian_mobile(n).lstrip("+")


@pytest.fixture(autouse=True)
def keywords():
    seed_keywords()


def state(contact: Contact, purpose: str = "marketing") -> str:
    return ConsentState.objects.get(contact=contact, purpose=purpose).status


def effects(contact: Contact) -> dict[str, Any]:
    """What a STOP left for one customer, in a form two customers' STOPs can be compared by."""
    events = list(ConsentEvent.objects.filter(contact=contact, action="opt_out").select_related("evidence")
                  .order_by("purpose"))
    signal = ComplaintSignal.objects.get(contact=contact, kind=SignalKind.STOP_REPLY)
    reply = Message.objects.get(contact=contact, kind=MessageKind.CONFIRMATION)
    item = _item_of(contact)
    return {
        "events": [(e.purpose, e.action, e.source, e.actor_type, e.actor_id, e.actor_label, e.notice_version,
                    sorted(e.evidence.data), e.sequence is None) for e in events],
        "states": sorted(ConsentState.objects.filter(contact=contact).values_list("purpose", "status", "source")),
        "signal": (signal.template_id is not None, signal.message_id is not None, sorted(signal.detail)),
        "reply": (reply.purpose, reply.status, reply.text, reply.created_by, bool(reply.reply_to_wamid)),
        "item": (item.state, item.note),
        "window": Contact.objects.get(pk=contact.pk).last_inbound_at is not None,
    }


def _item_of(contact: Contact) -> WebhookItem:
    number = (contact.phone or "").lstrip("+")
    return next(i for i in WebhookItem.objects.filter(opt_out=True) if i.data.get("wa_id") == number)


def offered(contact: Contact, template) -> Message:
    """A marketing template message the customer received a minute ago (the STOP answers it)."""
    at = timezone.now() - timedelta(minutes=1)
    return Message.objects.create(contact=contact, purpose=template.purpose, template=template,
                                  revision=template.approved_revision, language="en", variables=["Priya", "40%"],
                                  status=MessageStatus.DELIVERED, sent_at=at, wamid=f"wamid.offer.{contact.pk}")


def test_a_storm_of_stops_is_in_force_when_the_view_answers(client):
    # given 300 subscribed customers
    contacts = [customer(n) for n in range(1, 301)]
    now = int(time.time())
    body = messages([text(wa(n), "STOP", wamid=f"wamid.stop.{n}", at=now) for n in range(1, 301)])
    # when they all send STOP in one body
    with CaptureQueriesContext(connection) as queries:
        response = post(client, body)
    # then it is answered, every opt-out is in force, confirmed and signalled, each item applied
    assert response.status_code == 200
    assert ConsentState.objects.filter(contact__in=contacts, purpose="marketing", status="opted_out").count() == 300
    assert ConsentEvent.objects.filter(contact__in=contacts, action="opt_out").count() == 300  # STOP: marketing
    assert Message.objects.filter(kind=MessageKind.CONFIRMATION).count() == 300
    assert ComplaintSignal.objects.filter(kind=SignalKind.STOP_REPLY).count() == 300
    assert set(WebhookItem.objects.values_list("state", flat=True)) == {"applied"}
    # in a few statements per group (WEBHOOK_OPT_OUT_GROUP), not a dozen per STOP
    assert len(queries) < 120, len(queries)


def test_a_stop_in_a_group_has_the_effects_it_has_alone(client):
    # given two customers who each received the same offer
    offer = marketing_template()
    alone, grouped = customer(1), customer(2)
    offered(alone, offer), offered(grouped, offer)
    others = [customer(n) for n in range(3, 3 + optouts.GROUP_MIN)]
    now = int(time.time())
    # when one sends STOP alone, and the other within a group
    post(client, messages([text(wa(1), "STOP", wamid="wamid.alone", at=now)]))
    post(client, messages([text(wa(n), "STOP", wamid=f"wamid.g.{n}", at=now) for n in [2, *range(3, 3 + len(others))]]))
    # then both customers' ledgers, states, signals, confirmations and items look the same
    assert effects(alone) == effects(grouped)
    assert effects(grouped)["signal"][:2] == (True, True)  # the STOP answers the offer


def test_the_same_customer_twice_in_a_group_is_applied_twice_in_order(client):
    ravi = customer(1)
    others = [customer(n) for n in range(2, 6)]
    now = int(time.time())
    post(client, messages([text(wa(1), "STOP", wamid="wamid.1a", at=now - 5), *(
        text(wa(n), "STOP", wamid=f"wamid.{n}", at=now) for n in range(2, 6)), text(wa(1), "STOP", wamid="wamid.1b", at=now)]))
    assert state(ravi) == "opted_out" and all(state(c) == "opted_out" for c in others)
    assert ConsentEvent.objects.filter(contact=ravi, action="opt_out").count() == 2  # two STOPs, one event each
    assert set(WebhookItem.objects.values_list("state", flat=True)) == {"applied"}


def test_an_old_stop_after_a_later_start_is_superseded_in_a_group(client):
    ravi = customer(1)
    [customer(n) for n in range(2, 6)]
    now = int(time.time())
    # given a customer who sent STOP, then START (Meta's times), both applied
    post(client, messages([text(wa(1), "STOP", wamid="wamid.stop0", at=now - 100)]))
    post(client, messages([text(wa(1), "START", wamid="wamid.start", at=now - 10)]))
    # when a STOP sent between them arrives late, in a group
    post(client, messages([text(wa(n), "STOP", wamid=f"wamid.{n}", at=now - 20) for n in range(1, 6)]))
    # then the START stands
    assert state(ravi) == "opted_in"
    item = next(i for i in WebhookItem.objects.filter(opt_out=True) if i.data['data']['id'] == 'wamid.1')
    assert item.state == "applied" and "superseded" in item.note
    assert state(Contact.objects.get(phone_digest=phone_digest(indian_mobile(2)))) == "opted_out"


def test_new_numbers_and_erased_customers_in_a_group(client):
    # given a customer who was erased, and numbers never seen
    gone = customer(1)
    consent_erase(phone=gone.phone, actor=Actor.system("test"))
    now = int(time.time())
    post(client, messages([text(wa(n), "STOP", wamid=f"wamid.{n}", at=now) for n in range(1, 7)],
                          contacts=[{"wa_id": wa(n), "user_id": f"IN.{n}", "profile": {"name": "X"}} for n in range(1, 7)]))
    assert set(WebhookItem.objects.values_list("state", flat=True)) == {"applied"}
    for n in range(2, 7):
        contact = Contact.objects.get(phone_digest=phone_digest(indian_mobile(n)))
        assert (contact.wa_id, contact.user_id) == (wa(n), f"IN.{n}")
        assert set(ConsentState.objects.filter(contact=contact).values_list("status", flat=True)) == {"opted_out"}
    erased = Contact.objects.get(pk=gone.pk)
    assert erased.erased and erased.user_id is None and erased.last_inbound_wamid == ""
    assert not Message.objects.filter(contact=erased, kind=MessageKind.CONFIRMATION).exists()


def test_a_bsuid_another_contact_holds_goes_the_one_by_one_way_and_links(client):
    # given a STOP made under a BSUID alone (its own contact), and the customer known by number
    ravi = customer(1)
    [customer(n) for n in range(2, 6)]
    post(client, messages([text(None, "STOP", wamid="wamid.b", user_id="IN.ravi")], contacts=[{"user_id": "IN.ravi"}]))
    assert state(ravi) == "opted_in"
    # when a group of STOPs includes the number with that BSUID
    now = int(time.time())
    post(client, messages([text(wa(n), "STOP", wamid=f"wamid.{n}", at=now) for n in range(1, 6)],
                          contacts=[{"wa_id": wa(1), "user_id": "IN.ravi"},
                                    *({"wa_id": wa(n)} for n in range(2, 6))]))
    # then the number's contact took the BSUID (the other contact merged into it) and stopped
    assert Contact.objects.get(pk=ravi.pk).user_id == "IN.ravi"
    assert Contact.objects.filter(user_id="IN.ravi").count() == 1
    assert state(ravi) == "opted_out"


def test_standby_stops_in_a_group_get_no_reply(client):
    [customer(n) for n in range(1, 6)]
    now = int(time.time())
    post(client, envelope("standby", {"contacts": [{"wa_id": wa(n)} for n in range(1, 6)],
                                      "messages": [text(wa(n), "STOP", wamid=f"wamid.{n}", at=now) for n in range(1, 6)]}))
    assert ConsentState.objects.filter(purpose="marketing", status="opted_out").count() == 5
    assert not Message.objects.filter(kind=MessageKind.CONFIRMATION).exists()


def test_a_group_that_fails_is_applied_one_by_one(client, monkeypatch):
    # given the group's consent step fails (a bug, a constraint)
    def boom(requests):
        raise RuntimeError("bulk path broken")

    monkeypatch.setattr(optouts, "consent_apply_inbound_opt_outs", boom)
    contacts = [customer(n) for n in range(1, 9)]
    now = int(time.time())
    post(client, messages([text(wa(n), "STOP", wamid=f"wamid.{n}", at=now) for n in range(1, 9)]))
    # then nothing is lost: each STOP is applied alone, once
    assert all(state(c) == "opted_out" for c in contacts)
    assert ConsentEvent.objects.filter(action="opt_out").count() == 8
    assert Message.objects.filter(kind=MessageKind.CONFIRMATION).count() == 8


def test_opt_outs_the_request_left_are_applied_together_by_the_drain(client, settings, monkeypatch):
    from pandorakart_wa.webhooks import drain, receive

    # given STOPs stored and left to the workers (the request's budget spent before any)
    settings.WEBHOOK_DEFER = True
    monkeypatch.setattr(receive, "apply_opt_outs", lambda item_ids, **kwargs: 0)
    monkeypatch.setattr(drain, "DRAIN_GATHER_SECONDS", 0)
    contacts = [customer(n) for n in range(1, 31)]
    now = int(time.time())
    post(client, messages([text(wa(n), "STOP", wamid=f"wamid.{n}", at=now) for n in range(1, 31)]))
    assert not ConsentState.objects.filter(purpose="marketing", status="opted_out").exists()
    # when a worker drains
    with CaptureQueriesContext(connection) as queries:
        drain.webhooks_drain()
    # then all are in force, confirmed, their items applied and the event finished, in one group
    assert all(state(c) == "opted_out" for c in contacts)
    assert Message.objects.filter(kind=MessageKind.CONFIRMATION).count() == 30
    assert set(WebhookItem.objects.values_list("state", flat=True)) == {"applied"}
    from pandorakart_wa.webhooks.models import WebhookEvent

    assert not WebhookEvent.objects.filter(processed_at__isnull=True).exists()
    assert len(queries) < 60, len(queries)  # one by one: a dozen per STOP


def test_the_view_answers_with_the_storm_in_force_and_the_workers_confirm(client, settings, monkeypatch):
    from pandorakart_wa.webhooks import drain
    from pandorakart_wa.webhooks.models import WebhookEvent

    # given production's mode (the workers apply what the view leaves)
    settings.WEBHOOK_DEFER = True
    monkeypatch.setattr(drain, "DRAIN_GATHER_SECONDS", 0)
    contacts = [customer(n) for n in range(1, 21)]
    now = int(time.time())
    # when 20 STOPs arrive in one body
    response = post(client, messages([text(wa(n), "STOP", wamid=f"wamid.{n}", at=now) for n in range(1, 21)]))
    # then the answer finds every opt-out in force, and the confirmations and signals owed
    assert response.status_code == 200
    assert all(state(c) == "opted_out" for c in contacts)
    assert set(WebhookItem.objects.values_list("state", flat=True)) == {"opted_out"}
    assert not Message.objects.filter(kind=MessageKind.CONFIRMATION).exists()
    assert WebhookEvent.objects.get().processed_at is None
    # when a worker drains (the view's commit asked for one; a crash before it leaves the same
    # state for beat's sweep): each is confirmed and signalled once, applied, the event finished
    drain.webhooks_drain()
    drain.webhooks_drain()
    assert Message.objects.filter(kind=MessageKind.CONFIRMATION).count() == 20
    assert ComplaintSignal.objects.filter(kind=SignalKind.STOP_REPLY).count() == 20
    assert ConsentEvent.objects.filter(action="opt_out").count() == 20
    items = list(WebhookItem.objects.all())
    assert {i.state for i in items} == {"applied"}
    assert all(i.note == "STOP: opt_out marketing; confirmation queued" for i in items), items[0].note
    assert WebhookEvent.objects.get().processed_at is not None
