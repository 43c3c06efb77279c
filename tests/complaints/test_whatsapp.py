"""WhatsApp intake and block/report signals through the signed webhook (/webhooks/whatsapp)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.conf import settings

from complaints.models import Acknowledgement, Category, Channel, Complaint, ComplaintSignal, SignalKind, Status
from complaints.seed import intake_triggers_ensure
from complaints.services.workflow import complaint_transition
from consent.models import ConsentState
from messaging.models import Message, MessageKind, MessageStatus
from messaging.outbox import message_accept
from messaging.sending import messages_claim, messages_send_claimed
from tests.complaints.factories import agent
from tests.messaging.sending_helpers import (
    customer,
    marketing_template,
    post_webhook,
    status_item,
    statuses_payload,
    wamid_of,
    webhook,
)

pytestmark = pytest.mark.django_db

WA_ID = "919876500001"
PHONE = "+919876500001"


@pytest.fixture(autouse=True)
def _triggers(db: Any) -> None:
    intake_triggers_ensure()  # a transactional test elsewhere may have flushed the migrated rows


@pytest.fixture
def send(client: Any, django_capture_on_commit_callbacks: Any) -> Any:
    """POST a signed webhook; commit callbacks (acknowledgements, sends) run as in production."""

    def call(payload: dict[str, Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_webhook(client, payload)
        assert response.status_code == 200
        return response

    return call


def inbound(text: str, *, wamid: str = "wamid.in.1", context: str | None = None, name: str = "Priya") -> dict[str, Any]:
    message: dict[str, Any] = {"from": WA_ID, "id": wamid, "timestamp": str(int(time.time())), "type": "text",
                               "text": {"body": text}}
    if context:
        message["context"] = {"from": "15550001111", "id": context}
    metadata = {"phone_number_id": settings.WHATSAPP_PHONE_NUMBER_ID}
    return webhook("messages", {"messaging_product": "whatsapp", "metadata": metadata,
                                "contacts": [{"wa_id": WA_ID, "profile": {"name": name}}], "messages": [message]})


def marketing_sent() -> Message:
    """An offer delivered to the customer (sent through the real pipeline, locmem backend)."""
    template = marketing_template()
    message = message_accept(to=PHONE, template=template.name, variables=["Priya", "40%"]).message
    messages_send_claimed(messages_claim(ids=[message.id]))
    message.refresh_from_db()
    if message.status != MessageStatus.SENT:  # quiet hours deferred it: the test needs it sent
        Message.objects.filter(pk=message.pk).update(status=MessageStatus.SENT, wamid="wamid.offer.1",
                                                      sent_at=message.created_at)
        message.refresh_from_db()
    return message


def test_complaint_in_a_message_opens_one_and_is_acknowledged_in_the_window(send, outbox):
    # given a customer
    customer(1)
    # when they write "Complaint: ..." on WhatsApp
    send(inbound("Complaint: your delivery agent was rude to me"))
    # then a WhatsApp complaint is open, with their name, and acknowledged by a reply in the window
    complaint = Complaint.objects.get()
    assert (complaint.channel, complaint.category, complaint.status) == (Channel.WHATSAPP, Category.OTHER,
                                                                        Status.RECEIVED)
    assert complaint.contact is not None
    assert complaint.customer_name == "Priya" and complaint.contact.phone == PHONE
    assert complaint.acknowledgement == Acknowledgement.SENT
    assert complaint.acknowledgement_message is not None
    assert complaint.acknowledgement_message.kind == MessageKind.CONFIRMATION
    assert outbox[-1]["kind"] == "text" and complaint.reference in outbox[-1]["body"]


def test_hindi_complaint_opens_one(send):
    customer(1)
    send(inbound("मुझे शिकायत दर्ज करनी है"))
    assert Complaint.objects.get().channel == Channel.WHATSAPP


@pytest.mark.parametrize("text", ["Where is my order?", "complaintive tone", "I want a report of my orders"])
def test_ordinary_messages_open_nothing(send, text):
    customer(1)
    send(inbound(text))
    assert not Complaint.objects.exists()


def test_stop_is_a_signal_against_the_template_never_a_complaint(send):
    # given a customer who received an offer
    customer(1)
    offer = marketing_sent()
    # when they reply STOP to it
    send(inbound("STOP", context=offer.wamid))
    # then consent opted them out, no complaint opens, and a STOP signal names the template
    assert ConsentState.objects.get(contact=offer.contact, purpose="marketing").status == "opted_out"
    assert not Complaint.objects.exists()
    signal = ComplaintSignal.objects.get()
    assert (signal.kind, signal.template, signal.message) == (SignalKind.STOP_REPLY, offer.template, offer)


def test_a_spam_report_opens_a_complaint_about_the_message_and_records_a_signal(send):
    customer(1)
    offer = marketing_sent()
    send(inbound("This is SPAM, stop sending me this", context=offer.wamid))
    complaint = Complaint.objects.get()
    assert complaint.category == Category.UNWANTED_MESSAGES
    assert complaint.message == offer and complaint.template == offer.template
    signal = ComplaintSignal.objects.get()
    assert (signal.kind, signal.complaint, signal.template) == (SignalKind.SPAM_REPORT, complaint, offer.template)


def test_the_same_message_delivered_again_opens_one_complaint(send):
    customer(1)
    send(inbound("complaint about my refund"))
    payload = inbound("complaint about my refund")
    payload["entry"][0]["id"] = "another-delivery"  # a different body: not deduplicated by its digest
    send(payload)
    assert Complaint.objects.count() == 1


def test_a_reply_to_an_open_complaint_adds_to_it_and_resumes_it(send):
    # given a complaint awaiting the customer
    customer(1)
    send(inbound("complaint: wrong item delivered"))
    complaint = Complaint.objects.get()
    support = agent()
    complaint = complaint_transition(complaint=complaint, to_status=Status.ACKNOWLEDGED, actor=support)
    complaint_transition(complaint=complaint, to_status=Status.AWAITING_CUSTOMER, actor=support,
                         note="Asked for a photo of the item")
    # when the customer writes again
    send(inbound("Here is the order number PK-10023", wamid="wamid.in.2"))
    # then it is on the timeline and the complaint is being investigated again
    complaint.refresh_from_db()
    assert Complaint.objects.count() == 1
    assert complaint.status == Status.INVESTIGATING
    assert any("PK-10023" in a.note for a in complaint.actions.filter(kind="customer_message", internal=False))


def test_user_preferences_stop_is_a_signal_against_the_last_marketing_template(send):
    customer(1)
    offer = marketing_sent()
    send(webhook("user_preferences", {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": settings.WHATSAPP_PHONE_NUMBER_ID},
        "contacts": [{"wa_id": WA_ID}],
        "user_preferences": [{"wa_id": WA_ID, "detail": "User requested to stop marketing messages",
                              "category": "marketing_messages", "value": "stop",
                              "timestamp": str(int(time.time()))}],
    }))
    assert ConsentState.objects.get(contact=offer.contact, purpose="marketing").status == "opted_out"
    signal = ComplaintSignal.objects.get()
    assert (signal.kind, signal.template) == (SignalKind.USER_PREFERENCES_STOP, offer.template)


@pytest.mark.parametrize(("code", "kind"), [(131050, SignalKind.USER_STOPPED_MARKETING),
                                            (131026, SignalKind.UNDELIVERABLE)])
def test_block_proxy_failures_are_signals(send, code, kind):
    # given an offer that went out
    customer(1)
    offer = marketing_sent()
    # when Meta reports it failed with a block proxy code, twice
    errors = [{"code": code, "title": "failed"}]
    send(statuses_payload([status_item(wamid_of(offer), "failed", errors=errors)]))
    send(statuses_payload([status_item(wamid_of(offer), "failed", errors=errors, timestamp=int(time.time()) + 5)]))
    # then one signal names the contact, the template and the message
    signal = ComplaintSignal.objects.get()
    assert (signal.kind, signal.contact, signal.template, signal.message) == (kind, offer.contact, offer.template,
                                                                              offer)
