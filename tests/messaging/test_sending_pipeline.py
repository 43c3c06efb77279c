"""The worker's side: claim, send-time gate, Meta's errors, holds and the stop-all switch."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from consent.models import ConsentEvent, ConsentState
from messaging import ratelimit
from messaging.gate import sending_policy
from messaging.models import Message, MessageStatus, SendingPolicy
from messaging.outbox import message_accept
from messaging.sending import messages_claim, messages_fail_stale_sending, messages_send_claimed
from messaging.services.common import template_hold_queued_messages
from profile.models import ComplianceAlert
from tests.messaging.sending_helpers import customer, opt_out, utility_template

pytestmark = pytest.mark.django_db

SHIPPED = {"template": "order_shipped", "language": "en", "variables": ["Ravi", "PK-10023", "27 Nov"]}


def queued(n: int = 1, **overrides) -> Message:
    """A message accepted by the API but not yet sent (its task has not run)."""
    return message_accept(to=f"+9198765{n:05d}", **{**SHIPPED, **overrides}).message


@pytest.fixture
def contact():
    utility_template()
    return customer(1)


def test_a_claimed_message_cannot_be_claimed_again(contact):
    message = queued()
    first = messages_claim(ids=[message.id])
    second = messages_claim(ids=[message.id])
    assert [m.id for m in first] == [message.id]
    assert second == []
    assert Message.objects.get().status == MessageStatus.SENDING


def test_an_opt_out_after_queueing_suppresses_the_send(contact, outbox):
    # given a message accepted while the customer had consent
    message = queued()
    # when the customer opts out before the worker gets to it
    opt_out(contact, ["order_updates"])
    messages_send_claimed(messages_claim(ids=[message.id]))
    # then nothing is sent and the reason is recorded
    message.refresh_from_db()
    assert outbox == []
    assert message.status == MessageStatus.SUPPRESSED
    assert message.reason == "opted_out"
    assert list(message.events.values_list("status", flat=True)) == ["queued", "sending", "suppressed"]


def test_a_template_held_after_queueing_holds_the_message(contact, outbox):
    message = queued()
    template = message.template
    assert template is not None
    template.meta_status = "PAUSED"
    template.save()
    assert template_hold_queued_messages(template_id=template.pk) == 1
    message.refresh_from_db()
    assert message.reason == "template_held"
    assert message.not_before is not None and message.not_before > timezone.now()
    assert messages_claim(ids=[message.id]) == []  # not due while held
    assert outbox == []


def test_a_paused_template_met_at_send_time_holds_rather_than_drops(contact, outbox):
    message = queued()
    assert message.template is not None
    message.template.meta_status = "PAUSED"
    message.template.save()
    messages_send_claimed(messages_claim(ids=[message.id]))
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED
    assert message.reason == "template_held"
    assert outbox == []


def test_stop_all_keeps_messages_queued(contact, outbox):
    message = queued()
    SendingPolicy.objects.update_or_create(pk=1, defaults={"stop_all": True})
    messages_send_claimed(messages_claim(ids=[message.id]))
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED
    assert message.not_before is not None and message.not_before > timezone.now()
    assert outbox == []


def test_sent_message_records_wamid_and_event(contact, outbox):
    message = queued()
    messages_send_claimed(messages_claim(ids=[message.id]))
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.wamid == outbox[0]["wamid"]
    assert message.sent_at is not None


# --- Meta's answers, over real HTTP to the fake Graph API ------------------------------------


def send_now(message: Message) -> Message:
    messages_send_claimed(messages_claim(ids=[message.id]))
    message.refresh_from_db()
    return message


def test_transient_errors_are_requeued_with_backoff(contact, fake_meta):
    fake_meta.inject("http", status=500)
    message = send_now(queued())
    assert message.status == MessageStatus.QUEUED
    assert message.reason == "retry"
    assert message.not_before is not None and message.not_before > timezone.now()
    assert message.attempts == 1
    # when it is due again (and Meta's 6-second pair window has passed), it goes out once
    Message.objects.filter(pk=message.pk).update(not_before=None)
    ratelimit._pair_limiter.cache_clear()
    message = send_now(message)
    assert message.status == MessageStatus.SENT
    assert len(fake_meta.messages_to(contact.phone)) == 2  # one failed attempt, one accepted


def test_429_honours_retry_after(contact, fake_meta):
    fake_meta.inject("error", code=130429, status=429, retry_after=120)
    before = timezone.now()
    message = send_now(queued())
    assert message.status == MessageStatus.QUEUED
    assert message.not_before is not None and message.not_before >= before + dt.timedelta(seconds=120)


def test_131049_waits_a_day(contact, fake_meta):
    fake_meta.inject("error", code=131049)
    message = send_now(queued())
    assert message.not_before is not None and message.not_before >= timezone.now() + dt.timedelta(hours=23, minutes=59)


def test_permanent_errors_are_recorded_and_never_retried(contact, fake_meta):
    fake_meta.inject("error", code=132001)
    message = send_now(queued())
    assert message.status == MessageStatus.FAILED
    assert message.error_code == 132001
    assert message.error_title
    assert messages_claim(ids=[message.id]) == []
    assert len(fake_meta.messages_to(contact.phone)) == 1


def test_131050_writes_a_marketing_opt_out(contact, fake_meta):
    fake_meta.inject("error", code=131050)
    message = send_now(queued())
    assert message.status == MessageStatus.FAILED
    state = ConsentState.objects.get(contact=contact, purpose="marketing")
    assert state.status == "opted_out"
    assert ConsentEvent.objects.filter(contact=contact, action="opt_out", purpose="marketing").count() == 1


def test_131026_marks_the_contact_undeliverable(contact, fake_meta):
    fake_meta.inject("error", code=131026)
    send_now(queued())
    contact.refresh_from_db()
    assert contact.undeliverable is True


@pytest.mark.parametrize("code", [368, 131031])
def test_account_level_refusals_stop_all_sending_and_alert(contact, fake_meta, code):
    fake_meta.inject("error", code=code)
    message = send_now(queued())
    assert message.status == MessageStatus.FAILED
    assert sending_policy().stop_all is True
    assert ComplianceAlert.objects.filter(kind="sending_stopped").exists()


def test_a_dropped_connection_leaves_the_message_for_reconciliation(contact, fake_meta):
    # given Meta receives the request but the answer never comes back
    fake_meta.inject("drop")
    message = send_now(queued())
    # then the message is not retried blindly: it waits in `sending`
    assert message.status == MessageStatus.SENDING
    assert messages_claim(ids=[message.id]) == []
    last_event = message.events.last()
    assert last_event is not None and last_event.detail.get("delivery_unknown")
    # and after the reconcile window with no status from Meta, staff are asked to look
    Message.objects.filter(pk=message.pk).update(claimed_at=timezone.now() - dt.timedelta(hours=2))
    assert messages_fail_stale_sending() == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert message.reason == "delivery_unknown"
    assert len(fake_meta.messages_to(contact.phone)) == 1


def test_a_login_code_carries_the_code_in_its_copy_code_button_too(fake_meta):
    # given a customer with account-security consent and an approved authentication template
    from consent.purposes import TemplateCategory
    from tests.messaging.factories import make_usable_template

    make_usable_template(
        name="login_code", category=TemplateCategory.AUTHENTICATION,
        body="{{1}} is your verification code. For your security, do not share this code.", body_examples=["482913"],
    )
    contact = customer(7, purposes=["account_security"])
    # when the code is sent through the cloud backend
    message = send_now(message_accept(to=contact.phone, template="login_code", variables=["482913"]).message)
    # then Meta received the code in the body and in the button, in a shape its schema accepts
    assert message.status == MessageStatus.SENT
    components = fake_meta.messages_to(contact.phone)[0]["json"]["template"]["components"]
    assert {"type": "body", "parameters": [{"type": "text", "text": "482913"}]} in components
    assert {"type": "button", "sub_type": "url", "index": "0",
            "parameters": [{"type": "text", "text": "482913"}]} in components
    assert fake_meta.violations == []


# --- The last check before each message leaves ------------------------------------------------


def test_an_opt_out_committed_while_a_chunk_is_leaving_stops_its_later_messages(outbox, monkeypatch):
    # given three customers' messages claimed and gated together
    utility_template()
    contacts = [customer(n) for n in (1, 2, 3)]
    messages = [queued(n) for n in (1, 2, 3)]
    from pandorakart_wa.whatsapp.backends import locmem

    send = locmem.LocmemBackend.send_template

    def send_then_third_customer_opts_out(self, **kwargs):
        result = send(self, **kwargs)
        if len(outbox) == 1:  # the first message has left; the others wait for their turn
            opt_out(contacts[2], ["order_updates"])
        return result

    monkeypatch.setattr(locmem.LocmemBackend, "send_template", send_then_third_customer_opts_out)
    # when the chunk is sent (the locmem backend releases one message per wave)
    messages_send_claimed(messages_claim(ids=[m.id for m in messages]))
    # then the third customer's message was kept back
    assert [o["to"] for o in outbox] == [contacts[0].phone, contacts[1].phone]
    statuses = dict(Message.objects.values_list("contact_id", "status"))
    assert statuses[contacts[2].pk] == MessageStatus.SUPPRESSED
    assert Message.objects.get(contact=contacts[2]).reason == "opted_out"


def test_without_a_revocation_the_waves_do_not_ask_for_consent_again(outbox):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    utility_template()
    for n in range(1, 6):
        customer(n)
    claimed = messages_claim(ids=[queued(n).id for n in range(1, 6)])
    with CaptureQueriesContext(connection) as queries:
        messages_send_claimed(claimed)
    assert len(outbox) == 5
    consent_reads = [q["sql"] for q in queries if "consent_consentstate" in q["sql"]]
    assert len(consent_reads) == 1  # the gate's, for the whole chunk; five waves, no more
