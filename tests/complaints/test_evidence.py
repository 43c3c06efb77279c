"""Evidence for a customer with a mixed history: consent in, out and in again, messages before
and after each change, a withdrawal recorded after a send, failures, an earlier complaint."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from complaints.services.handling import complaint_refresh_evidence
from consent.seed import seed_notices
from consent.services.optin import consent_opt_in, consent_opt_out
from consent.types import Actor
from messaging.models import Message, MessageEvent, MessageStatus
from tests.complaints.factories import agent, new_complaint
from tests.messaging.sending_helpers import marketing_template

pytestmark = pytest.mark.django_db

PHONE = "+919876500001"
ACTOR = Actor.system("test")
DAY = dt.timedelta(days=1)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A controlled `timezone.now()` for everything (ledger recorded_at, auto_now fields)."""

    class Clock:
        now = timezone.now().replace(microsecond=0) - 30 * DAY

        def set(self, value: dt.datetime) -> None:
            self.now = value

    controlled = Clock()
    monkeypatch.setattr("django.utils.timezone.now", lambda: controlled.now)
    return controlled


def sent(contact: Any, template: Any, at: dt.datetime, *, status: str = MessageStatus.DELIVERED,
         error: int | None = None) -> Message:
    message = Message.objects.create(
        contact=contact, purpose=template.purpose, template=template, revision=template.approved_revision,
        language="en", variables=["Priya", "40%"], status=status, sent_at=at, wamid=f"wamid.{at.timestamp()}",
        error_code=error, error_title="stopped marketing" if error else "",
    )
    MessageEvent.objects.create(message=message, status=MessageStatus.SENT, at=at, source="worker")
    MessageEvent.objects.create(message=message, status=status, at=at + dt.timedelta(seconds=5), source="webhook",
                                detail={"code": error} if error else {})
    return message


def test_evidence_shows_the_consent_in_force_for_each_message(clock):
    t0 = clock.now
    notice = {n.language: n for n in seed_notices()}["en"]
    template = marketing_template()
    # given a message long before the lookback window
    clock.set(t0 - 100 * DAY)
    contact = consent_opt_in(phone=PHONE, purposes=["order_updates"], notice=notice, source="checkout",
                             actor=ACTOR, evidence={"ip": "203.0.113.9"}).contact
    ancient = sent(contact, template, clock.now)
    # consent to marketing, a message, STOP, a message anyway (a breach), consent again
    clock.set(t0)
    consent_opt_in(phone=PHONE, purposes=["marketing"], notice=notice, source="checkout", actor=ACTOR,
                   evidence={"ip": "203.0.113.9", "checkbox_text": "Send me offers"})
    before_stop = sent(contact, template, t0 + DAY)
    clock.set(t0 + 2 * DAY)
    consent_opt_out(phone=PHONE, purposes=["marketing"], source="whatsapp", actor=ACTOR)
    after_stop = sent(contact, template, t0 + 3 * DAY)
    clock.set(t0 + 4 * DAY)
    consent_opt_in(phone=PHONE, purposes=["marketing"], notice=notice, source="account_settings", actor=ACTOR)
    # a withdrawal that happened before a send but reached us after it (Meta's delayed stop)
    late_withdrawal = sent(contact, template, t0 + 5 * DAY, status=MessageStatus.FAILED, error=131050)
    clock.set(t0 + 6 * DAY)
    consent_opt_out(phone=PHONE, purposes=["marketing"], source="whatsapp", actor=ACTOR,
                    occurred_at=t0 + 5 * DAY - dt.timedelta(hours=1))
    earlier = new_complaint(phone=PHONE, now=t0 + DAY)

    # when the customer complains
    clock.set(t0 + 7 * DAY)
    complaint = new_complaint(phone=PHONE, now=t0 + 7 * DAY)
    evidence = complaint.evidence

    # then the ledger is there in order, with each event's evidence
    ledger = evidence["consent_ledger"]
    assert [(e["action"], e["purpose"]) for e in ledger] == [
        ("opt_in", "order_updates"), ("opt_in", "marketing"), ("opt_out", "marketing"), ("opt_in", "marketing"),
        ("opt_out", "marketing"),
    ]
    assert ledger[1]["evidence"]["checkbox_text"] == "Send me offers"
    assert all(e["event"].startswith("ev_") and e["notice_version"] == "2026-11-01-en" for e in ledger
               if e["action"] == "opt_in")
    # the messages of the last 90 days only, with template, revision, statuses and errors
    messages = {m["id"]: m for m in evidence["messages"]}
    assert str(ancient.pk) not in messages
    assert list(messages) == [str(before_stop.pk), str(after_stop.pk), str(late_withdrawal.pk)]
    first = messages[str(before_stop.pk)]
    assert (first["template"], first["revision"]) == (template.name, 1)
    assert [e["status"] for e in first["events"]] == ["sent", "delivered"]
    assert messages[str(late_withdrawal.pk)]["error"] == {"code": 131050, "title": "stopped marketing"}
    # and the consent in force when each was sent
    assert first["consent_in_force"]["status"] == "opted_in"
    assert first["consent_in_force"]["event"] == ledger[1]["event"]
    assert messages[str(after_stop.pk)]["consent_in_force"]["status"] == "opted_out"
    assert messages[str(after_stop.pk)]["consent_known_at_send"]["status"] == "opted_out"
    late = messages[str(late_withdrawal.pk)]
    assert late["consent_in_force"]["status"] == "opted_out"  # it had occurred before the send
    assert late["consent_known_at_send"]["status"] == "opted_in"  # but was not recorded yet
    # the earlier complaint, and who the customer is (masked)
    assert [c["reference"] for c in evidence["earlier_complaints"]] == [earlier.reference]
    assert evidence["contact"]["phone"] == "+91******0001"
    assert evidence["contact"]["consent_now"]["marketing"] == "opted_out"


def test_refreshing_the_evidence_takes_in_what_happened_since(clock):
    notice = {n.language: n for n in seed_notices()}["en"]
    contact = consent_opt_in(phone=PHONE, purposes=["marketing"], notice=notice, source="checkout",
                             actor=ACTOR).contact
    complaint = new_complaint(phone=PHONE, now=clock.now)
    assert len(complaint.evidence["consent_ledger"]) == 1
    consent_opt_out(phone=PHONE, purposes=["marketing"], source="whatsapp", actor=ACTOR)
    refreshed = complaint_refresh_evidence(complaint=complaint, actor=agent())
    assert len(refreshed.evidence["consent_ledger"]) == 2
    assert refreshed.actions.filter(kind="evidence").exists()
    assert contact.pk == refreshed.contact_id


def test_an_anonymous_complaint_has_no_customer_evidence(clock):
    complaint = new_complaint(now=clock.now)
    assert complaint.evidence is None


def test_evidence_takes_a_fixed_number_of_queries_however_many_messages():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from complaints.evidence import complaint_evidence

    # given a customer with 5 messages, then with 300
    notice = {n.language: n for n in seed_notices()}["en"]
    contact = consent_opt_in(phone=PHONE, purposes=["marketing"], notice=notice, source="checkout",
                             actor=ACTOR).contact
    template = marketing_template()
    now = timezone.now()
    for i in range(5):
        sent(contact, template, now - dt.timedelta(minutes=i))
    complaint = new_complaint(phone=PHONE)
    with CaptureQueriesContext(connection) as few:
        complaint_evidence(complaint, now=now)
    for i in range(295):
        sent(contact, template, now - dt.timedelta(hours=1, minutes=i))
    with CaptureQueriesContext(connection) as many:
        document = complaint_evidence(complaint, now=now)
    # then the number of queries does not grow with the messages
    assert len(document["messages"]) == 300
    assert len(many.captured_queries) == len(few.captured_queries)
