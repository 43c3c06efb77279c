"""Status webhooks in production's mode (WEBHOOK_DEFER_STATUSES): stored and answered at once,
applied by the workers in batches; every other webhook still applied before the answer."""

from __future__ import annotations

import pytest

from consent.models import ConsentState
from messaging import statuses as statuses_module
from messaging.models import Message, MessageStatus
from messaging.outbox import message_accept
from messaging.sending import messages_claim, messages_send_claimed
from pandorakart_wa import webhooks
from pandorakart_wa.models import WebhookEvent
from pandorakart_wa.webhooks import webhooks_drain
from tests.messaging.sending_helpers import (
    customer,
    inbound_text,
    post_webhook,
    status_item,
    statuses_payload,
    utility_template,
)

pytestmark = pytest.mark.django_db

SHIPPED = {"template": "order_shipped", "language": "en", "variables": ["Ravi", "PK-10023", "27 Nov"]}


@pytest.fixture(autouse=True)
def _deferred(settings, monkeypatch):
    monkeypatch.setattr(webhooks, "DRAIN_GATHER_SECONDS", 0)
    settings.WEBHOOK_DEFER_STATUSES = True
    settings.REDIS_URL = ""  # no debounce key: each webhook asks for a drain (eager Celery runs it)


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
    assert event.deferred and event.processed_at is None
    assert status_of(sent[0]) == MessageStatus.SENT
    # when a worker drains
    assert webhooks_drain() == 1
    # then the status is applied with its event, and the webhook marked processed
    assert status_of(sent[0]) == MessageStatus.DELIVERED
    assert list(sent[0].events.values_list("status", flat=True))[-1] == MessageStatus.DELIVERED
    event.refresh_from_db()
    assert event.processed_at is not None and event.error == ""
    assert webhooks_drain() == 0  # nothing is applied twice


def test_the_commit_asks_a_worker_to_drain(client, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(client, statuses_payload([status_item(sent[0].wamid, "read")]))
    assert status_of(sent[0]) == MessageStatus.READ


def test_a_redelivery_is_stored_once(client, sent):
    payload = statuses_payload([status_item(sent[0].wamid, "delivered")])
    answers = [post_webhook(client, payload).json()["duplicate"] for _ in range(3)]
    assert answers == [False, True, True]
    assert WebhookEvent.objects.count() == 1


def test_many_webhooks_are_applied_together_in_meta_order(client, sent):
    # given delivered and read for each message, read posted first for one of them
    post_webhook(client, statuses_payload([status_item(sent[0].wamid, "read", timestamp=2000000005)]))
    for message in sent:
        post_webhook(client, statuses_payload([status_item(message.wamid, "delivered", timestamp=2000000000)]))
    post_webhook(client, statuses_payload([status_item(sent[1].wamid, "read", timestamp=2000000006)]))
    # when drained in batches of two
    assert webhooks.webhooks_apply_deferred(batch=2) == 5
    # then each ends where Meta's latest status put it
    assert [status_of(m) for m in sent] == [MessageStatus.READ, MessageStatus.READ, MessageStatus.DELIVERED]
    assert not WebhookEvent.objects.filter(processed_at__isnull=True).exists()


def test_a_failing_batch_is_applied_event_by_event_and_the_error_kept_on_its_event(client, sent, monkeypatch):
    apply = statuses_module.messages_apply_statuses
    poisoned = sent[1].wamid

    def fail_on_poisoned(items, **kwargs):
        if any(s.get("id") == poisoned for s in items):
            raise RuntimeError("bad status")
        return apply(items, **kwargs)

    monkeypatch.setattr("messaging.webhooks.messages_apply_statuses", fail_on_poisoned)
    for message in sent:
        post_webhook(client, statuses_payload([status_item(message.wamid, "delivered")]))
    assert webhooks_drain() == 3
    assert [status_of(m) for m in sent] == [MessageStatus.DELIVERED, MessageStatus.SENT, MessageStatus.DELIVERED]
    errors = dict(WebhookEvent.objects.values_list("payload__entry__0__changes__0__value__statuses__0__id", "error"))
    assert errors[sent[0].wamid] == "" and errors[sent[2].wamid] == ""
    assert "bad status" in errors[poisoned]
    assert not WebhookEvent.objects.filter(processed_at__isnull=True).exists()


def test_a_broker_down_loses_nothing(client, sent, monkeypatch, django_capture_on_commit_callbacks):
    from pandorakart_wa.tasks import apply_deferred_webhooks

    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(apply_deferred_webhooks, "apply_async", down)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(client, statuses_payload([status_item(sent[0].wamid, "delivered")]))
    assert response.status_code == 200
    assert status_of(sent[0]) == MessageStatus.SENT
    assert webhooks_drain() == 1  # beat's sweep
    assert status_of(sent[0]) == MessageStatus.DELIVERED


def test_inbound_messages_are_still_applied_before_the_answer(client, sent):
    # a STOP carries no statuses: the opt-out is in force when Meta gets its 200
    response = post_webhook(client, inbound_text("919876500001", "STOP"))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert not event.deferred and event.processed_at is not None
    assert ConsentState.objects.filter(contact=sent[0].contact, status="opted_out").exists()


def test_statuses_with_anything_else_are_applied_before_the_answer(client, sent):
    payload = statuses_payload([status_item(sent[0].wamid, "delivered")])
    payload["entry"][0]["changes"][0]["value"]["errors"] = [{"code": 131000, "title": "Something went wrong"}]
    post_webhook(client, payload)
    assert not WebhookEvent.objects.get().deferred
    assert status_of(sent[0]) == MessageStatus.DELIVERED


def test_each_process_asks_for_a_drain_at_most_once_per_gather_window(monkeypatch):
    from pandorakart_wa.tasks import apply_deferred_webhooks

    asked: list[int] = []
    monkeypatch.setattr(webhooks, "DRAIN_GATHER_SECONDS", 0.2)
    monkeypatch.setattr(webhooks, "_drain_requested_at", float("-inf"))
    monkeypatch.setattr(apply_deferred_webhooks, "apply_async", lambda **kwargs: asked.append(1))
    times = iter([100.0, 100.05, 100.19, 100.21, 100.3, 100.5])
    monkeypatch.setattr(webhooks.time, "monotonic", lambda: next(times))
    for _ in range(6):
        webhooks.request_drain()
    # asked at 100.0, 100.21 and 100.5: each webhook in between was stored before that
    # request's drain (it waits 0.2 s before it looks) began to look
    assert len(asked) == 3
