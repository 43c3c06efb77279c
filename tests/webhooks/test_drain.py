"""Production's mode (WEBHOOK_DEFER on): every update is stored and answered, opt-outs are in
force before the answer, and the workers apply the rest (statuses in batches) after."""

from __future__ import annotations

from typing import Any

import pytest

from consent.models import ConsentState, Contact
from messaging import statuses as statuses_module
from messaging.models import Message, MessageStatus
from messaging.outbox import message_accept
from messaging.sending import messages_claim, messages_send_claimed
from pandorakart_wa.webhooks import drain
from pandorakart_wa.webhooks.drain import webhooks_apply_pending, webhooks_drain
from pandorakart_wa.webhooks.models import WebhookEvent, WebhookItem
from tests.messaging.sending_helpers import (
    customer,
    inbound_text,
    post_webhook,
    status_item,
    statuses_payload,
    utility_template,
)

pytestmark = pytest.mark.django_db

SHIPPED: dict[str, Any] = {"template": "order_shipped", "language": "en", "variables": ["Ravi", "PK-10023", "27 Nov"]}


@pytest.fixture(autouse=True)
def _deferred(settings, monkeypatch):
    monkeypatch.setattr(drain, "DRAIN_GATHER_SECONDS", 0)
    settings.WEBHOOK_DEFER = True
    settings.REDIS_URL = ""


@pytest.fixture
def sent(outbox):
    utility_template()
    messages = []
    for n in (1, 2, 3):
        customer(n)
        message = message_accept(to=f"+9198765{n:05d}", **SHIPPED).message
        messages_send_claimed(messages_claim(ids=[message.id]))
        message.refresh_from_db()
        messages.append(message)
    return messages


def status_of(message: Message) -> str:
    message.refresh_from_db()
    return message.status


def test_a_status_webhook_is_stored_answered_and_applied_by_the_drain(client, sent):
    # when Meta posts a status (the commit's drain request not yet run)
    response = post_webhook(client, statuses_payload([status_item(sent[0].wamid, "delivered")]))
    # then it is answered and stored for the workers, and not applied yet
    assert response.status_code == 200 and response.json() == {"status": "ok", "duplicate": False}
    event = WebhookEvent.objects.get()
    [item] = event.items.all()
    assert item.state == WebhookItem.State.PENDING and event.processed_at is None
    assert status_of(sent[0]) == MessageStatus.SENT
    # when a worker drains
    assert webhooks_drain() == 1
    # then the status is applied with its event, and the webhook marked processed
    assert status_of(sent[0]) == MessageStatus.DELIVERED
    assert list(sent[0].events.values_list("status", flat=True))[-1] == MessageStatus.DELIVERED
    event.refresh_from_db()
    item.refresh_from_db()
    assert event.processed_at is not None and item.state == WebhookItem.State.APPLIED
    assert webhooks_drain() == 0  # nothing is applied twice


def test_the_commit_asks_a_worker_to_drain(client, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(client, statuses_payload([status_item(sent[0].wamid, "read")]))
    assert status_of(sent[0]) == MessageStatus.READ


def test_a_redelivery_is_stored_once(client, sent):
    payload = statuses_payload([status_item(sent[0].wamid, "delivered")])
    answers = [post_webhook(client, payload).json()["duplicate"] for _ in range(3)]
    assert answers == [False, True, True]
    assert WebhookEvent.objects.count() == 1 and WebhookItem.objects.count() == 1


def test_many_webhooks_are_applied_together_in_meta_order(client, sent, monkeypatch):
    # given delivered and read for each message, read posted first for one of them
    post_webhook(client, statuses_payload([status_item(sent[0].wamid, "read", timestamp=1764500005)]))
    for message in sent:
        post_webhook(client, statuses_payload([status_item(message.wamid, "delivered", timestamp=1764500000)]))
    post_webhook(client, statuses_payload([status_item(sent[1].wamid, "read", timestamp=1764500006)]))
    # when drained in batches of two
    monkeypatch.setattr(drain, "STATUS_BATCH", 2)
    assert webhooks_apply_pending() == 5
    # then each ends where Meta's latest status put it
    assert [status_of(m) for m in sent] == [MessageStatus.READ, MessageStatus.READ, MessageStatus.DELIVERED]
    assert not WebhookEvent.objects.filter(processed_at__isnull=True).exists()


def test_a_failing_batch_is_applied_item_by_item_and_the_error_kept_on_its_item(client, sent, monkeypatch):
    apply = statuses_module.messages_apply_statuses
    poisoned = sent[1].wamid

    def fail_on_poisoned(items, **kwargs):
        if any(s.get("id") == poisoned for s in items):
            raise RuntimeError("bad status")
        return apply(items, **kwargs)

    monkeypatch.setattr("pandorakart_wa.webhooks.router.messages_apply_statuses", fail_on_poisoned)
    for message in sent:
        post_webhook(client, statuses_payload([status_item(message.wamid, "delivered")]))
    webhooks_drain()
    assert [status_of(m) for m in sent] == [MessageStatus.DELIVERED, MessageStatus.SENT, MessageStatus.DELIVERED]
    states = {i.data["data"]["id"]: (i.state, i.last_error) for i in WebhookItem.objects.all()}
    assert states[sent[0].wamid] == (WebhookItem.State.APPLIED, "")
    assert states[poisoned][0] == WebhookItem.State.FAILED and "bad status" in states[poisoned][1]
    # the failed item waits for its retry; the others' events are finished
    assert WebhookEvent.objects.filter(processed_at__isnull=True).count() == 1


def test_a_broker_down_loses_nothing(client, sent, monkeypatch, django_capture_on_commit_callbacks):
    from pandorakart_wa.webhooks.drain import apply_deferred_webhooks

    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(apply_deferred_webhooks, "apply_async", down)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(client, statuses_payload([status_item(sent[0].wamid, "delivered")]))
    assert response.status_code == 200
    assert status_of(sent[0]) == MessageStatus.SENT
    assert webhooks_drain() == 1  # beat's sweep
    assert status_of(sent[0]) == MessageStatus.DELIVERED


def test_an_opt_out_is_in_force_before_the_answer_and_the_rest_waits_for_the_workers(client, sent):
    # a STOP: in force when Meta gets its 200, its confirmation queued
    response = post_webhook(client, inbound_text("919876500001", "STOP", wamid="wamid.stop"))
    assert response.status_code == 200
    assert ConsentState.objects.filter(contact=sent[0].contact, purpose="marketing", status="opted_out").exists()
    assert WebhookItem.objects.get().state == WebhookItem.State.APPLIED
    # a plain text: stored, applied by a worker
    post_webhook(client, inbound_text("919876500002", "Where is my order?", wamid="wamid.question"))
    question = WebhookItem.objects.get(opt_out=False)
    assert question.state == WebhookItem.State.PENDING
    assert Contact.objects.get(pk=sent[1].contact_id).last_inbound_at is None
    webhooks_drain()
    assert Contact.objects.get(pk=sent[1].contact_id).last_inbound_at is not None


def test_each_process_asks_for_a_drain_at_most_once_per_gather_window(monkeypatch):
    from pandorakart_wa.webhooks.drain import apply_deferred_webhooks

    asked: list[int] = []
    monkeypatch.setattr(drain, "DRAIN_GATHER_SECONDS", 0.2)
    monkeypatch.setattr(drain, "_drain_requested_at", float("-inf"))
    monkeypatch.setattr(apply_deferred_webhooks, "apply_async", lambda **kwargs: asked.append(1))
    times = iter([100.0, 100.05, 100.19, 100.21, 100.3, 100.5])
    monkeypatch.setattr("pandorakart_wa.webhooks.drain.time.monotonic", lambda: next(times))
    for _ in range(6):
        drain.request_drain()
    # asked at 100.0, 100.21 and 100.5: each webhook in between was stored before that
    # request's drain (it waits 0.2 s before it looks) began to look
    assert len(asked) == 3


def test_a_drain_that_ran_its_time_hands_the_backlog_to_a_new_task(client, sent, monkeypatch):
    from pandorakart_wa.webhooks.drain import apply_deferred_webhooks

    # given statuses waiting, and a drain whose time is up at once
    for message in sent:
        post_webhook(client, statuses_payload([status_item(message.wamid, "delivered")]))
    asked = []
    monkeypatch.setattr(apply_deferred_webhooks, "apply_async", lambda **kwargs: asked.append(kwargs))
    monkeypatch.setattr(drain, "DRAIN_MAX_SECONDS", 0)
    # when it runs, it applies nothing more and asks a fresh drain (no gathering) to go on
    assert webhooks_drain() == 0
    assert asked == [{"kwargs": {"gather": False}, "retry": False}]
    # and that drain applies the backlog
    monkeypatch.setattr(drain, "DRAIN_MAX_SECONDS", 120)
    assert webhooks_drain(gather=False) == 3
    assert [status_of(m) for m in sent] == [MessageStatus.DELIVERED] * 3
