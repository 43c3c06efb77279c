"""Meta's webhooks end to end through POST /webhooks/whatsapp with a valid signature."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.conf import settings

from consent.models import ConsentEvent, Contact
from consent.selectors import consent_decision_for_phone
from consent.services.optin import consent_opt_in
from pandorakart_wa.whatsapp.signature import sign

pytestmark = pytest.mark.django_db

WA_ID = "919227021270"
PHONE = "+919227021270"


def post(client: Any, field: str, value: dict[str, Any]):
    body = json.dumps({"object": "whatsapp_business_account", "entry": [
        {"id": "102290129340398", "changes": [{"field": field, "value": value}]}]}).encode()
    return client.post("/webhooks/whatsapp", body, content_type="application/json",
                       HTTP_X_HUB_SIGNATURE_256=sign(body, settings.WHATSAPP_APP_SECRET))


def preferences(value: str, ts: int) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"},
        "contacts": [{"wa_id": WA_ID, "user_id": "IN.1349120865530274"}],
        "user_preferences": [{"wa_id": WA_ID, "detail": "User requested to stop marketing messages",
                              "category": "marketing_messages", "value": value, "timestamp": ts}],
    }


def test_user_preferences_stop_and_resume(client, notices, actor):
    # given a customer opted in to marketing
    consent_opt_in(phone=PHONE, purposes=["marketing", "order_updates"], notice=notices["en"], source="checkout",
                   actor=actor, occurred_at=None)
    now = int(time.time())
    # when Meta reports a stop
    response = post(client, "user_preferences", preferences("stop", now + 1))
    # then marketing is withdrawn before the 200, by Meta, from WhatsApp
    assert response.status_code == 200
    assert consent_decision_for_phone(PHONE, "marketing").reason == "opted_out"
    assert consent_decision_for_phone(PHONE, "order_updates").allowed
    event = ConsentEvent.objects.get(action="opt_out")
    assert (event.source, event.actor_type) == ("whatsapp", "meta")
    assert Contact.objects.get().user_id == "IN.1349120865530274"
    # when Meta reports a resume
    post(client, "user_preferences", preferences("resume", now + 2))
    # then what they had is restored
    assert consent_decision_for_phone(PHONE, "marketing").allowed


def test_resume_without_earlier_consent_grants_nothing(client):
    post(client, "user_preferences", preferences("resume", int(time.time())))
    assert consent_decision_for_phone(PHONE, "marketing").reason == "consent_missing"


def test_a_bad_signature_changes_nothing(client, notices, actor):
    consent_opt_in(phone=PHONE, purposes=["marketing"], notice=notices["en"], source="checkout", actor=actor)
    body = json.dumps({"entry": [{"changes": [{"field": "user_preferences",
                                               "value": preferences("stop", int(time.time()))}]}]}).encode()
    response = client.post("/webhooks/whatsapp", body, content_type="application/json",
                           HTTP_X_HUB_SIGNATURE_256="sha256=" + "0" * 64)
    assert response.status_code == 403
    assert consent_decision_for_phone(PHONE, "marketing").allowed


def inbound(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Ravi"}, "wa_id": WA_ID}],
        "messages": [{"from": WA_ID, "id": f"wamid.{time.time_ns()}", "timestamp": str(int(time.time())),
                      **message}],
    }


def test_inbound_stop_text_and_quick_reply_button(client, notices, actor):
    # given
    consent_opt_in(phone=PHONE, purposes=["marketing"], notice=notices["en"], source="checkout", actor=actor,
                   occurred_at=None)
    # when the customer taps the template's "Stop promotions" quick reply
    response = post(client, "messages", inbound({"type": "button", "context": {"id": "wamid.template"},
                                                 "button": {"payload": "STOP_PROMOS", "text": "Stop promotions"}}))
    # then
    assert response.status_code == 200
    assert consent_decision_for_phone(PHONE, "marketing").reason == "opted_out"
    assert Contact.objects.get().last_inbound_at is not None
    # when they write START
    time.sleep(1.01)  # Meta's timestamps have one-second resolution
    post(client, "messages", inbound({"type": "text", "text": {"body": " start "}}))
    # then
    assert consent_decision_for_phone(PHONE, "marketing").allowed


def test_inbound_media_only_records_the_window(client):
    post(client, "messages", inbound({"type": "image", "image": {"id": "1", "mime_type": "image/jpeg"}}))
    contact = Contact.objects.get()
    assert contact.last_inbound_at is not None
    assert not ConsentEvent.objects.exists()


def test_status_only_messages_change_is_ignored(client):
    value = {"messaging_product": "whatsapp", "statuses": [{"id": "wamid.1", "status": "delivered",
                                                            "timestamp": "1", "recipient_id": WA_ID}]}
    assert post(client, "messages", value).status_code == 200
    assert not Contact.objects.exists()
