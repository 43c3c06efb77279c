"""Inbound WhatsApp keywords: whole message, case/space-insensitive, Hindi, START restores."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.keywords import normalize_keyword
from consent.models import ConsentEvent, Contact, OptOutKeyword
from consent.selectors import consent_decision_for_phone, contact_states
from consent.services.common import ConsentError
from consent.services.erasure import consent_erase
from consent.services.inbound import consent_apply_inbound_text
from consent.services.notices import keyword_save
from consent.services.optin import consent_opt_in, consent_opt_out

pytestmark = pytest.mark.django_db

WA_ID = "919227021270"
PHONE = "+919227021270"


def send(text: str, minutes: int = 0):
    return consent_apply_inbound_text(
        wa_id=WA_ID, user_id=None, text=text, wamid=f"wamid.{text}.{minutes}",
        at=timezone.now() - timedelta(minutes=60 - minutes),
    )


def opted_in_everywhere(notices, actor) -> None:
    consent_opt_in(phone=PHONE, purposes=["order_updates", "marketing", "support"], notice=notices["en"],
                   source="checkout", actor=actor, occurred_at=timezone.now() - timedelta(hours=2))


@pytest.mark.parametrize(
    "text",
    ["STOP", "stop", "  Stop  ", "Stop.", "UNSUBSCRIBE", "stop   promotions", "Stop\nPromotions", "cancel", "End",
     "QUIT!", "रोकें", " रोकें ", "बंद", "बंद।"],
)
def test_marketing_opt_out_keywords(notices, actor, text):
    # given a customer opted in to marketing and order updates
    opted_in_everywhere(notices, actor)
    # when they send the keyword
    result = send(text)
    # then only marketing is withdrawn
    assert result is not None
    assert result.action == "opt_out" and result.purposes == ["marketing"]
    assert result.reply_text
    assert consent_decision_for_phone(PHONE, "marketing").reason == "opted_out"
    assert consent_decision_for_phone(PHONE, "order_updates").allowed


def test_decomposed_unicode_hindi_matches(notices, actor):
    # given "रोकें" typed with a decomposed form (NFD differs byte-wise from the stored NFC)
    import unicodedata

    opted_in_everywhere(notices, actor)
    text = unicodedata.normalize("NFD", "रोकें")
    # when / then
    assert send(text) is not None


@pytest.mark.parametrize("text", ["please stop", "STOP sending me offers", "stopp", "where is my order", "", "🙂"])
def test_other_messages_are_not_keywords(notices, actor, text):
    opted_in_everywhere(notices, actor)
    assert send(text) is None
    assert consent_decision_for_phone(PHONE, "marketing").allowed


def test_stop_all_withdraws_every_purpose(notices, actor):
    opted_in_everywhere(notices, actor)
    result = send("stop all")
    assert result is not None
    assert sorted(result.purposes) == ["account_security", "marketing", "order_updates", "support"]
    assert not consent_decision_for_phone(PHONE, "order_updates").allowed


def test_start_restores_exactly_what_the_customer_had(notices, actor):
    # given a customer with order updates and marketing but never account security
    opted_in_everywhere(notices, actor)
    send("STOP ALL", minutes=1)
    # when they send START
    result = send("start", minutes=2)
    # then what they had comes back, under the notice they agreed to; nothing else is granted
    assert result is not None and result.action == "resubscribe"
    assert sorted(result.purposes) == ["marketing", "order_updates", "support"]
    states = contact_states(Contact.objects.get())
    assert states["marketing"].status == "opted_in"
    assert states["marketing"].notice_version == "2026-11-01-en"
    assert states["account_security"].status == "opted_out"
    assert all(e.action == "resubscribe" for e in result.events)


def test_start_after_stop_then_stop_all_restores_marketing_too(notices, actor):
    opted_in_everywhere(notices, actor)
    send("STOP", minutes=1)
    send("STOP ALL", minutes=2)
    result = send("START", minutes=3)
    assert result is not None
    assert sorted(result.purposes) == ["marketing", "order_updates", "support"]


def test_start_only_restores_the_last_opt_out(notices, actor):
    # given marketing withdrawn in account settings long ago, order updates kept
    opted_in_everywhere(notices, actor)
    consent_opt_out(phone=PHONE, purposes=["support"], source="account_settings", actor=actor,
                    occurred_at=timezone.now() - timedelta(minutes=90))
    # when STOP then START on WhatsApp
    send("STOP", minutes=1)
    result = send("START", minutes=2)
    # then marketing is back, support (withdrawn separately, earlier) stays withdrawn
    assert result is not None and result.purposes == ["marketing"]
    assert contact_states(Contact.objects.get())["support"].status == "opted_out"


def test_start_without_any_earlier_consent_grants_nothing(db):
    result = send("START")
    assert result is not None and result.purposes == [] and result.events == []
    assert consent_decision_for_phone(PHONE, "marketing").reason == "consent_missing"


def test_start_cannot_revive_an_erased_number(notices, actor):
    opted_in_everywhere(notices, actor)
    send("STOP", minutes=1)
    consent_erase(phone=PHONE, actor=actor)
    result = send("START", minutes=2)
    assert result is not None and result.purposes == []
    assert consent_decision_for_phone(PHONE, "marketing").reason == "contact_erased"


def test_any_inbound_message_opens_the_service_window(db):
    at = timezone.now()
    consent_apply_inbound_text(wa_id=WA_ID, user_id="IN.123", text="hello", wamid="wamid.1", at=at)
    contact = Contact.objects.get()
    assert contact.last_inbound_at == at and contact.user_id == "IN.123"
    # an older message delivered late does not move the window backwards
    consent_apply_inbound_text(wa_id=WA_ID, user_id=None, text="hi", wamid="wamid.0", at=at - timedelta(hours=1))
    contact.refresh_from_db()
    assert contact.last_inbound_at == at and contact.last_inbound_wamid == "wamid.1"


def test_staff_can_add_a_keyword_and_clashes_are_refused(notices, actor):
    # given staff add a Tamil keyword
    keyword_save(keyword=OptOutKeyword(phrase=" நிறுத்து ", action="opt_out", scope="marketing", language="ta"))
    opted_in_everywhere(notices, actor)
    # when / then it works at once
    assert send("நிறுத்து") is not None
    # and a phrase equal to an existing one after normalisation is refused
    with pytest.raises(ConsentError):
        keyword_save(keyword=OptOutKeyword(phrase="  stop  ", action="opt_out", scope="marketing"))


def test_inactive_keyword_is_ignored(notices, actor):
    OptOutKeyword.objects.filter(normalized="quit").update(active=False)
    opted_in_everywhere(notices, actor)
    assert send("QUIT") is None


def test_normalize_keyword():
    assert normalize_keyword("  STOP \t PROMOTIONS!! ") == "stop promotions"
    assert normalize_keyword("बंद।") == "बंद"


def test_every_keyword_is_one_ledger_event_per_purpose_with_evidence(notices, actor):
    opted_in_everywhere(notices, actor)
    send("STOP")
    event = ConsentEvent.objects.filter(action="opt_out").get()
    assert event.source == "whatsapp" and event.actor_type == "system"
    assert event.evidence.data["wamid"].startswith("wamid.STOP")
