"""Meta's webhooks applied to messages and consent, through POST /webhooks/whatsapp."""

from __future__ import annotations

from typing import Any

import pytest

from consent.models import ConsentState
from messaging.gate import sending_policy
from messaging.models import Message, MessageKind, MessageStatus
from messaging.outbox import message_accept
from messaging.sending import messages_claim, messages_send_claimed
from tests.messaging.sending_helpers import (
    customer,
    inbound_text,
    post_webhook,
    status_item,
    statuses_payload,
    utility_template,
    webhook,
)

pytestmark = pytest.mark.django_db

SHIPPED: dict[str, Any] = {"template": "order_shipped", "language": "en", "variables": ["Ravi", "PK-10023", "27 Nov"]}


@pytest.fixture
def sent_message(outbox):
    utility_template()
    customer(1)
    message = message_accept(to="+919876500001", **SHIPPED).message
    messages_send_claimed(messages_claim(ids=[message.id]))
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    return message


def statuses(message: Message) -> list[str]:
    return list(message.events.values_list("status", flat=True))


def test_statuses_move_the_message_forward(client, sent_message):
    for status in ("delivered", "read"):
        response = post_webhook(client, statuses_payload([status_item(sent_message.wamid, status)]))
        assert response.status_code == 200
    sent_message.refresh_from_db()
    assert sent_message.status == MessageStatus.READ
    assert statuses(sent_message) == ["queued", "sending", "sent", "delivered", "read"]


def test_a_late_delivered_never_undoes_read(client, sent_message):
    post_webhook(client, statuses_payload([status_item(sent_message.wamid, "read", timestamp=2000000000)]))
    post_webhook(client, statuses_payload([status_item(sent_message.wamid, "delivered", timestamp=1999999990)]))
    sent_message.refresh_from_db()
    assert sent_message.status == MessageStatus.READ
    assert statuses(sent_message)[-1] == "read"


def test_the_same_webhook_three_times_is_applied_once(client, sent_message):
    payload = statuses_payload([status_item(sent_message.wamid, "delivered")])
    for _ in range(3):
        assert post_webhook(client, payload).status_code == 200
    assert statuses(sent_message).count("delivered") == 1


def test_a_wrong_signature_changes_nothing(client, sent_message):
    import json

    body = json.dumps(statuses_payload([status_item(sent_message.wamid, "read")])).encode()
    response = client.post("/webhooks/whatsapp", data=body, content_type="application/json",
                           HTTP_X_HUB_SIGNATURE_256="sha256=" + "0" * 64)
    assert response.status_code == 403
    sent_message.refresh_from_db()
    assert sent_message.status == MessageStatus.SENT


def test_a_message_left_sending_is_reconciled_by_its_callback_data(client, outbox):
    # given a message whose send answer was lost (still `sending`, no wamid)
    utility_template()
    customer(1)
    message = message_accept(to="+919876500001", **SHIPPED).message
    messages_claim(ids=[message.id])
    # when Meta's status arrives, echoing the message id
    post_webhook(client, statuses_payload([status_item("wamid.from-meta", "sent", callback=str(message.id))]))
    # then the message learns its wamid and moves on, without being sent again
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.wamid == "wamid.from-meta"
    assert outbox == []


def test_an_async_131050_failure_opts_the_customer_out_of_marketing(client, sent_message):
    errors = [{"code": 131050, "title": "Unable to deliver the message. This recipient has chosen to stop "
               "receiving marketing messages on WhatsApp from your business."}]
    post_webhook(client, statuses_payload([status_item(sent_message.wamid, "failed", errors=errors)]))
    sent_message.refresh_from_db()
    assert sent_message.status == MessageStatus.FAILED
    assert sent_message.error_code == 131050
    assert ConsentState.objects.get(contact=sent_message.contact, purpose="marketing").status == "opted_out"


def test_stop_opts_out_before_the_200_and_is_confirmed(client, committing, outbox):
    # given a customer with marketing consent
    contact = customer(1)
    # when they reply STOP on WhatsApp
    response = committing(client).post(
        "/webhooks/whatsapp",
        **_signed(inbound_text("919876500001", "  stop ")),
    )
    # then marketing is opted out by the time the webhook is answered, and a confirmation goes out
    assert response.status_code == 200
    assert ConsentState.objects.get(contact=contact, purpose="marketing").status == "opted_out"
    assert ConsentState.objects.get(contact=contact, purpose="order_updates").status == "opted_in"
    reply = Message.objects.get(kind=MessageKind.CONFIRMATION)
    assert reply.status == MessageStatus.SENT
    assert outbox[-1]["kind"] == "text" and outbox[-1]["to"] == contact.phone


def test_account_restriction_stops_all_sending(client):
    value = {"event": "ACCOUNT_RESTRICTION",
             "restriction_info": [{"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": 1}]}
    assert post_webhook(client, webhook("account_update", value)).status_code == 200
    assert sending_policy().stop_all is True


def test_harmless_account_update_does_not_stop_sending(client):
    post_webhook(client, webhook("account_update", {"event": "PARTNER_ADDED"}))
    assert sending_policy().stop_all is False


def _signed(payload):
    import json

    from django.conf import settings

    from pandorakart_wa.whatsapp.signature import sign

    body = json.dumps(payload).encode()
    return {"data": body, "content_type": "application/json",
            "HTTP_X_HUB_SIGNATURE_256": sign(body, settings.WHATSAPP_APP_SECRET)}
