"""The revocation clock: PostgreSQL triggers move it in the transaction of every change that
can take away the right to message a contact, and only then (senders rely on it to skip a
consent query before each wave, messaging.sending)."""

from __future__ import annotations

import pytest

from consent.models import ConsentState, RevocationClock
from consent.services.blocking import contact_block, contact_unblock
from consent.services.erasure import consent_erase
from consent.services.inbound import consent_record_platform_opt_out, contact_mark_undeliverable
from consent.services.optin import consent_opt_in, consent_opt_out
from tests.consent.factories import indian_mobile

pytestmark = pytest.mark.django_db


def clock() -> int:
    return RevocationClock.objects.get(pk=1).value


@pytest.fixture
def opted_in(notices, actor):
    return consent_opt_in(phone=indian_mobile(1), purposes=["marketing", "order_updates"], notice=notices["en"],
                          source="checkout", actor=actor).contact


def test_consents_and_other_changes_leave_the_clock_alone(opted_in, notices, actor):
    before = clock()
    consent_opt_in(phone=indian_mobile(2), purposes=["marketing"], notice=notices["en"], source="checkout", actor=actor)
    consent_opt_in(phone=indian_mobile(1), purposes=["marketing"], notice=notices["en"], source="account_settings", actor=actor)
    contact_mark_undeliverable(phone=indian_mobile(1), code=131026)  # checked when claimed, not per wave
    contact_unblock(contact=opted_in, reason="test", actor=actor)
    assert clock() == before


@pytest.mark.parametrize(
    "revoke",
    [
        pytest.param(lambda c, a: consent_opt_out(phone=indian_mobile(1), purposes=["marketing"],
                                                  source="account_settings", actor=a), id="opt-out"),
        pytest.param(lambda c, a: consent_record_platform_opt_out(phone=indian_mobile(1), wamid="wamid.x",
                                                                  code=131050), id="meta-131050"),
        pytest.param(lambda c, a: contact_block(contact=c, reason="abusive", actor=a), id="block"),
        pytest.param(lambda c, a: consent_erase(phone=indian_mobile(1), actor=a), id="erasure"),
        pytest.param(lambda c, a: ConsentState.objects.filter(contact=c).delete(), id="state-deleted"),
    ],
)
def test_every_revocation_moves_the_clock(opted_in, actor, revoke):
    before = clock()
    revoke(opted_in, actor)
    assert clock() > before


def test_an_opt_out_of_a_contact_already_out_does_not_move_it(opted_in, actor):
    consent_opt_out(phone=indian_mobile(1), purposes=["marketing"], source="account_settings", actor=actor)
    before = clock()
    consent_opt_out(phone=indian_mobile(1), purposes=["marketing"], source="account_settings", actor=actor)
    assert clock() == before
