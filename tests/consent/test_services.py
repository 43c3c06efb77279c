"""Consent services and selectors: decisions, platform signals, erasure, block, notices."""

from __future__ import annotations

import pytest
from django.utils import timezone

from consent.hooks import privacy_erasers
from consent.models import ConsentEvent, ConsentNotice, Contact
from consent.selectors import (
    consent_decision_for_phone,
    consent_decisions,
    consent_opted_in_contact_ids,
    contact_for_phone,
)
from consent.services.blocking import contact_block, contact_unblock
from consent.services.common import ConsentError
from consent.services.erasure import consent_erase
from consent.services.inbound import consent_record_platform_opt_out, contact_mark_undeliverable, contact_record_inbound
from consent.services.notices import notice_publish, notice_save
from consent.services.optin import consent_opt_in, consent_opt_out
from pandorakart_wa.core.phones import phone_digest
from tests.consent.factories import ContactFactory, indian_mobile

pytestmark = pytest.mark.django_db


def test_decisions_give_each_reason_in_one_query(notices, actor, django_assert_num_queries):
    # given one contact in each situation
    opted_in = consent_opt_in(phone=indian_mobile(1), purposes=["marketing"], notice=notices["en"],
                              source="checkout", actor=actor).contact
    opted_out = consent_opt_out(phone=indian_mobile(2), purposes=["marketing"], source="account_settings",
                                actor=actor).contact
    blocked = consent_opt_in(phone=indian_mobile(3), purposes=["marketing"], notice=notices["en"],
                             source="checkout", actor=actor).contact
    contact_block(contact=blocked, reason="abusive", actor=actor)
    erased = consent_opt_in(phone=indian_mobile(4), purposes=["marketing"], notice=notices["en"],
                            source="checkout", actor=actor).contact
    consent_erase(phone=indian_mobile(4), actor=actor)
    other_purpose = consent_opt_in(phone=indian_mobile(5), purposes=["order_updates"], notice=notices["en"],
                                   source="checkout", actor=actor).contact
    ids = [opted_in.pk, opted_out.pk, blocked.pk, erased.pk, other_purpose.pk, 999_999]
    # when
    with django_assert_num_queries(1):
        decisions = consent_decisions(contact_ids=ids, purpose="marketing")
    # then
    assert {k: (d.allowed, d.reason) for k, d in decisions.items()} == {
        opted_in.pk: (True, None),
        opted_out.pk: (False, "opted_out"),
        blocked.pk: (False, "contact_blocked"),
        erased.pk: (False, "contact_erased"),
        other_purpose.pk: (False, "consent_missing"),
        999_999: (False, "consent_missing"),
    }


def test_decisions_by_digest_and_for_one_phone(notices, actor):
    consent_opt_in(phone=indian_mobile(1), purposes=["marketing"], notice=notices["en"], source="checkout",
                   actor=actor)
    digest = phone_digest(indian_mobile(1))
    unknown = phone_digest(indian_mobile(2))
    decisions = consent_decisions(digests=[digest, unknown], purpose="marketing")
    assert decisions[digest].allowed and decisions[unknown].reason == "consent_missing"
    assert consent_decision_for_phone("09876500001", "marketing").allowed
    assert consent_decision_for_phone("junk", "marketing").reason == "consent_missing"
    with pytest.raises(ValueError):
        consent_decisions(contact_ids=[1], purpose="spam")


def test_blocked_wins_over_consent_until_unblocked(notices, actor):
    contact = consent_opt_in(phone=indian_mobile(1), purposes=["marketing"], notice=notices["en"],
                             source="checkout", actor=actor).contact
    with pytest.raises(ConsentError):
        contact_block(contact=contact, reason=" ", actor=actor)
    contact_block(contact=contact, reason="legal hold", actor=actor)
    assert consent_decision_for_phone(indian_mobile(1), "marketing").reason == "contact_blocked"
    contact_unblock(contact=contact, reason="resolved", actor=actor)
    assert consent_decision_for_phone(indian_mobile(1), "marketing").allowed


def test_opted_in_audience_streams_in_chunks(notices, actor):
    # given 7 opted-in contacts, one blocked, one opted out
    ids = []
    for n in range(9):
        ids.append(consent_opt_in(phone=indian_mobile(n), purposes=["marketing"], notice=notices["en"],
                                  source="checkout", actor=actor).contact.pk)
    contact_block(contact=Contact.objects.get(pk=ids[0]), reason="x", actor=actor)
    consent_opt_out(phone=indian_mobile(1), purposes=["marketing"], source="whatsapp", actor=actor)
    # when
    chunks = list(consent_opted_in_contact_ids(purpose="marketing", chunk_size=3))
    # then
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert [i for chunk in chunks for i in chunk] == sorted(ids[2:])
    assert list(consent_opted_in_contact_ids(purpose="support")) == []


def test_platform_opt_out_131050_is_recorded_once(notices, actor):
    consent_opt_in(phone=indian_mobile(1), purposes=["marketing", "order_updates"], notice=notices["en"],
                   source="checkout", actor=actor)
    first = consent_record_platform_opt_out(phone=indian_mobile(1), wamid="wamid.A", code=131050)
    second = consent_record_platform_opt_out(phone=indian_mobile(1), wamid="wamid.B", code=131050)
    assert len(first) == 1 and second == []
    assert first[0].actor_type == "meta" and first[0].source == "whatsapp"
    assert consent_decision_for_phone(indian_mobile(1), "marketing").reason == "opted_out"
    assert consent_decision_for_phone(indian_mobile(1), "order_updates").allowed


def test_undeliverable_and_inbound_window(db):
    contact = contact_mark_undeliverable(phone=indian_mobile(1), code=131026, wamid="wamid.X")
    assert contact.undeliverable and contact.undeliverable_at
    at = timezone.now()
    contact = contact_record_inbound(wa_id="919876500001", at=at, wamid="wamid.in")
    assert contact.last_inbound_at == at
    bsuid_only = contact_record_inbound(user_id="IN.999", at=at, wamid="wamid.in2")
    assert bsuid_only.phone is None and bsuid_only.user_id == "IN.999"
    with pytest.raises(ConsentError):
        contact_record_inbound(at=at, wamid="wamid.none")


def test_erasure_keeps_digest_clears_identifiers_and_suppresses(notices, actor):
    # given
    consent_opt_in(phone=indian_mobile(1), purposes=["marketing"], notice=notices["en"], source="checkout",
                   actor=actor, evidence={"ip": "203.0.113.7"})
    contact_record_inbound(wa_id="919876500001", user_id="IN.1", at=timezone.now(), wamid="wamid.1")
    # when
    receipt = consent_erase(phone=indian_mobile(1), actor=actor)
    # then
    contact = Contact.objects.get()
    assert contact.phone is None and contact.wa_id is None and contact.user_id is None
    assert contact.phone_digest == phone_digest(indian_mobile(1))
    assert contact_for_phone(indian_mobile(1)) == contact
    assert {e.action for e in receipt.events} == {"erase"} and len(receipt.events) == 4
    for purpose in ("marketing", "order_updates", "account_security", "support"):
        assert consent_decision_for_phone(indian_mobile(1), purpose).reason == "contact_erased"
    # and a later opt-out of the erased number still works (it never fails)
    consent_opt_out(phone=indian_mobile(1), source="whatsapp", actor=actor)


def test_erasure_calls_other_apps_erasers(notices, actor, replace_hooks):
    replace_hooks(privacy_erasers, [record_erasure])
    ERASED.clear()
    consent_erase(phone=indian_mobile(1), actor=actor)
    assert [Contact.objects.get().pk] == ERASED


ERASED: list[int] = []


def record_erasure(*, contact: Contact) -> None:
    ERASED.append(contact.pk)


def test_every_event_names_its_actor(notices, actor):
    consent_opt_in(phone=indian_mobile(1), purposes=["marketing"], notice=notices["en"], source="checkout",
                   actor=actor)
    event = ConsentEvent.objects.get()
    assert (event.actor_type, event.actor_label) == ("system", "test")


def test_notice_publish_checks_the_itemised_content_and_freezes_it(actor):
    # given a draft missing the Board as complaint route
    draft = notice_save(notice=ConsentNotice(
        version="2027-01-01-en", language="en", title="t", text="text", business_name="PANDORAKART",
        business_contact="support@pandorakart.com", withdrawal_instructions="Reply STOP",
        complaint_instructions="Write to us", purposes=["marketing"],
        items=[{"data": "Mobile number", "purposes": ["marketing"]}],
    ))
    # when / then publishing is refused, naming the field
    with pytest.raises(ConsentError) as refused:
        notice_publish(notice=draft, actor=actor)
    assert refused.value.field == "complaint_instructions"
    # when fixed, it publishes with a content digest, and can no longer change
    draft.complaint_instructions = "Write to us, then the Data Protection Board of India."
    notice_save(notice=draft)
    published = notice_publish(notice=draft, actor=actor)
    assert published.is_published and len(published.text_sha256) == 64
    with pytest.raises(ConsentError):
        notice_publish(notice=published, actor=actor)


def test_seed_is_idempotent(db):
    from io import StringIO

    from consent.seed import seed_demo

    seed_demo(StringIO())
    seed_demo(StringIO())
    assert ConsentNotice.objects.filter(published_at__isnull=False).count() == 2


def test_contact_factory_makes_a_findable_contact(db):
    contact = ContactFactory()
    assert contact_for_phone(contact.phone) == contact
