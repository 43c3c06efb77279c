"""The block/report signal threshold: a template whose negative signals in 7 days exceed 2 % of
its sends (with at least 50 sends) is put under investigation and held pending review."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from complaints.models import Category, Channel, Complaint, ComplaintSignal, SignalKind, Status
from complaints.signals_intake import record_failure, signals_evaluate, template_signal_rates
from consent.models import Contact
from messaging.models import HoldReason, Message, MessageStatus
from messaging.selectors import template_usable
from profile.models import ComplianceAlert
from tests.consent.factories import ContactFactory
from tests.messaging.sending_helpers import marketing_template

pytestmark = pytest.mark.django_db

NOW = timezone.now()
DAY = dt.timedelta(days=1)


def sends(template, count: int, *, at: dt.datetime = NOW) -> list[Message]:
    contacts = ContactFactory.create_batch(count)
    messages = Message.objects.bulk_create(
        [Message(contact=c, purpose=template.purpose, template=template, revision=template.approved_revision,
                 language="en", variables=["Priya", "40%"], status=MessageStatus.DELIVERED, sent_at=at)
         for c in contacts]
    )
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(created_at=at)
    return messages


def signal(message: Message, n: int, *, kind: str = SignalKind.STOP_REPLY, at: dt.datetime = NOW) -> None:
    ComplaintSignal.objects.create(kind=kind, contact=message.contact, template=message.template, message=message,
                                   dedupe_key=f"test:{message.pk}:{n}", occurred_at=at)


def test_over_the_threshold_opens_an_investigation_and_holds_the_template():
    # given 60 sends of a template in the last 7 days and 2 negative signals (3.3 %)
    template = marketing_template()
    messages = sends(template, 60, at=NOW - DAY)
    signal(messages[0], 1)
    signal(messages[1], 2, kind=SignalKind.SPAM_REPORT)
    # when the hourly task evaluates the signals
    opened = signals_evaluate(now=NOW)
    # then one internal investigation names the template, the template is held and Compliance alerted
    assert len(opened) == 1
    complaint = opened[0]
    assert (complaint.channel, complaint.category, complaint.template) == (Channel.INTERNAL,
                                                                          Category.TEMPLATE_SIGNALS, template)
    assert "2 negative signals" in complaint.description and "60 sends" in complaint.description
    template.refresh_from_db()
    assert template.hold_reason == HoldReason.COMPLAINT
    assert template_usable(template) == (False, "template_paused")
    assert complaint.reference in template.attention_reason
    assert ComplianceAlert.objects.filter(kind="complaint_template_signals").count() == 1
    assert ComplaintSignal.objects.filter(complaint=complaint).count() == 2
    assert complaint.evidence["template"]["signals_last_7_days"] == {"stop_reply": 1, "spam_report": 1}
    # and a second run opens no second investigation while this one is open
    signal(messages[2], 3)
    assert signals_evaluate(now=NOW + dt.timedelta(hours=1)) == []
    assert Complaint.objects.filter(template=template, status__in=[Status.RECEIVED]).count() == 1


def test_at_or_under_the_threshold_nothing_happens():
    template = marketing_template()
    messages = sends(template, 100)
    signal(messages[0], 1)
    signal(messages[1], 2)  # exactly 2 %: not above it
    assert signals_evaluate(now=NOW) == []
    template.refresh_from_db()
    assert template.hold_reason == HoldReason.NONE


def test_too_few_sends_is_not_evidence_enough():
    template = marketing_template()
    messages = sends(template, 49)
    for n, message in enumerate(messages[:10]):
        signal(message, n)
    assert signals_evaluate(now=NOW) == []


@override_settings(COMPLAINT_SIGNAL_THRESHOLD=0.10, COMPLAINT_SIGNAL_MIN_SENDS=10)
def test_threshold_and_minimum_are_settings():
    template = marketing_template()
    messages = sends(template, 20)
    for n, message in enumerate(messages[:2]):
        signal(message, n)
    assert signals_evaluate(now=NOW) == []  # 10 % is not above 10 %
    signal(messages[2], 3)
    assert len(signals_evaluate(now=NOW)) == 1


def test_only_the_last_seven_days_count():
    template = marketing_template()
    old = sends(template, 60, at=NOW - 10 * DAY)
    for n, message in enumerate(old[:5]):
        signal(message, n, at=NOW - 9 * DAY)
    sends(template, 60, at=NOW - DAY)
    assert template_signal_rates(now=NOW) == []
    assert signals_evaluate(now=NOW) == []


def test_record_failure_keeps_only_block_proxies_once_each():
    template = marketing_template()
    message = sends(template, 1)[0]
    assert record_failure(message=message, code=131047) is None  # outside the window: not a block proxy
    assert record_failure(message=message, code=131026) is not None
    assert record_failure(message=message, code=131026) is None
    assert ComplaintSignal.objects.get().contact == Contact.objects.get(pk=message.contact_id)
