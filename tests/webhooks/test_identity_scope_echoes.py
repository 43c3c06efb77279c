"""Who a webhook is about (numbers and BSUIDs), whether it is for us, and messages that left
our number without passing through the service."""

from __future__ import annotations

import time
from typing import Any

import pytest

from consent.models import ConsentEvent, ConsentState, Contact
from consent.seed import seed_keywords
from messaging.models import Message, MessageKind, MessageStatus
from pandorakart_wa.core.phones import phone_digest
from pandorakart_wa.webhooks.models import WebhookItem
from profile.models import ComplianceAlert
from tests.messaging.sending_helpers import customer
from tests.webhooks.helpers import envelope, messages, post, text

pytestmark = pytest.mark.django_db

WA = "919876500001"
BSUID = "IN.13491208655302741918"


@pytest.fixture(autouse=True)
def _keywords():
    seed_keywords()


def state(contact, purpose="marketing") -> str:
    return ConsentState.objects.get(contact=contact, purpose=purpose).status


def contact_of(wa_id: str) -> Contact:
    return Contact.objects.get(phone_digest=phone_digest("+" + wa_id))


# --- Identity ---------------------------------------------------------------------------------


def test_a_stop_carrying_only_the_bsuid_suppresses_the_number(client):
    # given a customer with consent whose BSUID Meta sent once beside their number
    ravi = customer(1)
    post(client, messages([text(WA, "hello", wamid="wamid.1")], contacts=[{"wa_id": WA, "user_id": BSUID}]))
    assert Contact.objects.get(pk=ravi.pk).user_id == BSUID
    # when the customer, now with a username, sends STOP with the BSUID alone
    post(client, messages([text(None, "STOP", wamid="wamid.2", user_id=BSUID)], contacts=[{"user_id": BSUID}]))
    # then the number is suppressed for marketing
    assert state(ravi) == "opted_out"
    assert Contact.objects.count() == 1


def test_a_bsuid_only_stop_first_then_the_link_suppresses_the_number(client):
    # given a customer known by number, and a STOP that names only a BSUID nobody knew yet
    ravi = customer(1)
    post(client, messages([text(None, "STOP", wamid="wamid.1", user_id=BSUID)], contacts=[{"user_id": BSUID}]))
    assert state(ravi) == "opted_in"  # nothing linked the two yet
    # when a status names both (Meta's recipient_id and recipient_user_id)
    from tests.messaging.sending_helpers import statuses_payload

    post(client, statuses_payload([{"id": "wamid.out", "status": "delivered", "timestamp": str(int(time.time())),
                                    "recipient_id": WA, "recipient_user_id": BSUID}]))
    # then the withdrawal made under the BSUID applies to the number, and the BSUID moved to it
    assert state(ravi) == "opted_out"
    assert Contact.objects.get(pk=ravi.pk).user_id == BSUID


def test_a_number_change_moves_consent_and_the_old_number_keeps_none(client):
    # given a customer with order updates and marketing
    ravi = customer(1, purposes=("order_updates", "marketing"))
    # when Meta says they changed number
    post(client, messages([{
        "from": WA, "id": "wamid.sys", "timestamp": str(int(time.time())), "type": "system",
        "system": {"body": "User Ravi changed from 919876500001 to 919876500050", "wa_id": "919876500050",
                   "type": "user_changed_number", "user_id": "IN.NEW", "previous_user_id": ""},
    }], contacts=[]))
    # then the new number has their consent, the old number none
    new = contact_of("919876500050")
    assert state(new, "order_updates") == state(new, "marketing") == "opted_in"
    assert state(ravi, "order_updates") == state(ravi, "marketing") == "opted_out"
    assert new.user_id == "IN.NEW"
    moved = ConsentEvent.objects.filter(contact=new, action="resubscribe")
    assert moved.count() == 2 and all(e.notice_id is not None for e in moved)


def test_a_number_change_withdraws_the_consent_of_the_numbers_earlier_holder(client):
    ravi = customer(1, purposes=("order_updates",))
    earlier = customer(50, purposes=("marketing",))  # the new number's earlier holder
    post(client, messages([{
        "from": WA, "id": "wamid.sys", "timestamp": str(int(time.time())), "type": "system",
        "system": {"type": "user_changed_number", "wa_id": "919876500050"},
    }], contacts=[]))
    assert state(earlier, "marketing") == "opted_out"
    assert state(earlier, "order_updates") == "opted_in"
    assert state(ravi, "order_updates") == "opted_out"


def test_a_bsuid_change_follows_the_person(client):
    ravi = customer(1)
    post(client, messages([text(WA, "hi", wamid="wamid.1")], contacts=[{"wa_id": WA, "user_id": BSUID}]))
    post(client, messages([{
        "from_user_id": BSUID, "id": "wamid.sys", "timestamp": str(int(time.time())), "type": "system",
        "system": {"type": "user_changed_user_id", "previous_user_id": BSUID, "user_id": "IN.999"},
    }], contacts=[]))
    assert Contact.objects.get(pk=ravi.pk).user_id == "IN.999"
    post(client, messages([text(None, "STOP", wamid="wamid.2", user_id="IN.999")], contacts=[{"user_id": "IN.999"}]))
    assert state(ravi) == "opted_out"


# --- Scope ------------------------------------------------------------------------------------


def test_a_message_for_another_number_opens_no_window_and_is_alerted(client, api_client):
    # given a customer who consented to support replies, and a message to a number id not ours
    customer(1, purposes=("order_updates", "support"))
    post(client, messages([text(WA, "hello", wamid="wamid.1")], phone_number_id="999999999"))
    # then it is stored, not applied, and staff are alerted
    item = WebhookItem.objects.get()
    assert (item.in_scope, item.state) == (False, "skipped")
    assert contact_of(WA).last_inbound_at is None
    assert ComplianceAlert.objects.filter(kind="webhook_out_of_scope").exists()
    # and a free-text reply is refused: no window is open
    response = api_client.post("/api/v1/messages", {"to": "+" + WA, "text": "Thanks!"}, format="json")
    assert response.status_code == 422 and response.json()["code"] == "outside_service_window"


def test_an_opt_out_for_another_number_is_still_honoured(client):
    ravi = customer(1)
    post(client, messages([text(WA, "STOP", wamid="wamid.1")], phone_number_id="999999999"))
    assert state(ravi) == "opted_out"
    assert not Message.objects.filter(kind=MessageKind.CONFIRMATION).exists()  # not our chat to reply in
    assert contact_of(WA).last_inbound_at is None


def test_a_foreign_wabas_template_update_is_not_applied(client):
    body = envelope("message_template_status_update", {"event": "PAUSED", "message_template_id": 1,
                                                       "message_template_name": "x", "message_template_language": "en"})
    body["entry"][0]["id"] = "5550001"
    post(client, body)
    assert WebhookItem.objects.get().in_scope is False


# --- Echoes -----------------------------------------------------------------------------------


def echo(to: str, body: str, *, wamid: str, field: str = "smb_message_echoes") -> dict[str, Any]:
    return envelope(field, {"contacts": [{"wa_id": to}], "message_echoes": [{
        "from": "919227021270", "to": to, "id": wamid, "timestamp": str(int(time.time())), "type": "text",
        "text": {"body": body},
    }]})


def test_an_echo_from_the_business_app_is_recorded_as_a_sent_message(client):
    ravi = customer(1)
    post(client, echo(WA, "Your order is on its way", wamid="wamid.echo.1"))
    [message] = Message.objects.filter(contact=ravi)
    assert (message.kind, message.status, message.purpose, message.wamid) == (
        MessageKind.ECHO, MessageStatus.SENT, "support", "wamid.echo.1")
    assert not ComplianceAlert.objects.filter(kind="message_bypassed_consent").exists()
    post(client, echo(WA, "Your order is on its way", wamid="wamid.echo.1"))  # redelivered
    assert Message.objects.filter(contact=ravi).count() == 1


def test_a_marketing_echo_to_a_customer_without_marketing_consent_raises_an_alert(client):
    customer(1, purposes=("order_updates",))
    post(client, echo(WA, "Flat 50% off on sarees this weekend only!", wamid="wamid.echo.2"))
    message = Message.objects.get(kind=MessageKind.ECHO)
    assert message.purpose == "marketing"
    alert = ComplianceAlert.objects.get(kind="message_bypassed_consent")
    assert "consent_missing" in alert.title


def test_a_standby_stop_while_metas_agent_holds_the_chat_is_honoured(client):
    ravi = customer(1)
    body = envelope("standby", {"contacts": [{"wa_id": WA}], "messages": [text(WA, "STOP", wamid="wamid.sb")]})
    post(client, body)
    assert state(ravi) == "opted_out"
    assert not Message.objects.filter(kind=MessageKind.CONFIRMATION).exists()  # the agent holds the chat
