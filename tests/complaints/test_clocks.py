"""The two clocks: paused time while awaiting the customer, breaches and escalation by the beat
task, with a controlled clock (every service and selector takes `now`)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings

from complaints.clocks import first_response_clock, resolution_clock, resolution_due, working_time
from complaints.models import Complaint, ComplaintAction, Status
from complaints.selectors import public_document, queue_overdue
from complaints.services.clocks import complaints_check_clocks
from complaints.services.workflow import complaint_resolve, complaint_transition
from profile.models import ComplianceAlert
from tests.complaints.factories import agent, new_complaint, officer

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 2, 4, 30, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def test_a_new_complaint_has_both_clocks_from_intake():
    complaint = new_complaint(now=T0)
    assert complaint.first_response_due_at == T0 + 24 * HOUR
    assert complaint.resolution_due_at == T0 + 15 * DAY
    assert complaint.outer_limit_at == T0 + 90 * DAY
    assert public_document(complaint, now=T0)["resolve_by"] == T0 + 15 * DAY


@override_settings(COMPLAINT_FIRST_RESPONSE_HOURS=4, COMPLAINT_RESOLUTION_DAYS=7, COMPLAINT_OUTER_LIMIT_DAYS=30)
def test_the_clocks_are_configurable():
    complaint = new_complaint(now=T0)
    assert complaint.first_response_due_at == T0 + 4 * HOUR
    assert complaint.resolution_due_at == T0 + 7 * DAY
    assert complaint.outer_limit_at == T0 + 30 * DAY


def test_time_awaiting_the_customer_does_not_count():
    # given a complaint acknowledged after 2 hours
    complaint = new_complaint(now=T0)
    support = agent()
    complaint = complaint_transition(complaint=complaint, to_status=Status.ACKNOWLEDGED, actor=support,
                                     now=T0 + 2 * HOUR)
    assert first_response_clock(complaint, T0 + 30 * HOUR).stopped
    # when it awaits the customer from day 3 to day 8
    complaint = complaint_transition(complaint=complaint, to_status=Status.AWAITING_CUSTOMER, actor=support,
                                     note="Asked for the message screenshot", now=T0 + 3 * DAY)
    # then while paused the due time moves with the clock and nothing is overdue
    during = resolution_clock(complaint, T0 + 20 * DAY)
    assert during.paused and not during.overdue
    assert during.due_at == T0 + 15 * DAY + 17 * DAY
    assert complaints_check_clocks(now=T0 + 20 * DAY).resolution == []
    complaint = complaint_transition(complaint=complaint, to_status=Status.INVESTIGATING, actor=support,
                                     now=T0 + 8 * DAY)
    # and after it resumes, the five paused days are added to the resolution due time
    assert complaint.paused_seconds == int((5 * DAY).total_seconds())
    assert complaint.resolution_due_at == T0 + 20 * DAY
    assert resolution_due(complaint, T0 + 10 * DAY) == T0 + 20 * DAY
    assert working_time(complaint, T0 + 10 * DAY) == 5 * DAY


def test_a_pause_never_moves_the_statutory_limit():
    complaint = new_complaint(now=T0)
    complaint = complaint_transition(complaint=complaint, to_status=Status.ACKNOWLEDGED, actor=agent(), now=T0)
    complaint = complaint_transition(complaint=complaint, to_status=Status.AWAITING_CUSTOMER, actor=agent(),
                                     note="Waiting", now=T0 + DAY)
    assert resolution_due(complaint, T0 + 200 * DAY) == T0 + 90 * DAY
    complaint = complaint_transition(complaint=complaint, to_status=Status.INVESTIGATING, actor=agent(),
                                     now=T0 + 100 * DAY)
    assert complaint.resolution_due_at == T0 + 90 * DAY


def test_the_beat_task_marks_a_missed_first_response_escalates_and_alerts_once():
    # given a complaint nobody has answered
    complaint = new_complaint(now=T0)
    # when the beat runs before the due time, nothing happens
    assert complaints_check_clocks(now=T0 + 23 * HOUR).first_response == []
    # and after it, the breach is marked, the complaint escalated and Compliance alerted
    report = complaints_check_clocks(now=T0 + 25 * HOUR)
    assert report.first_response == [str(complaint.pk)]
    complaint.refresh_from_db()
    assert complaint.first_response_breached_at == T0 + 25 * HOUR
    assert complaint.escalated_to_dpo and "first response" in complaint.escalation_reason
    assert ComplianceAlert.objects.filter(kind="complaint_sla_breach", object_id=str(complaint.pk)).count() == 1
    assert complaint.actions.filter(kind=ComplaintAction.Kind.BREACH).count() == 1
    assert list(queue_overdue(Complaint.objects.all(), now=T0 + 25 * HOUR)) == [complaint]
    # a second run marks nothing again
    assert complaints_check_clocks(now=T0 + 26 * HOUR).first_response == []
    assert complaint.actions.filter(kind=ComplaintAction.Kind.BREACH).count() == 1


def test_the_resolution_clock_breaches_only_when_the_paused_time_is_used_up():
    # given a complaint answered at once, then awaiting the customer for 10 days
    complaint = new_complaint(now=T0)
    complaint = complaint_transition(complaint=complaint, to_status=Status.INVESTIGATING, actor=agent(), now=T0)
    complaint = complaint_transition(complaint=complaint, to_status=Status.AWAITING_CUSTOMER, actor=agent(),
                                     note="Asked for details", now=T0 + DAY)
    # when the beat runs on day 16 (past the unpaused due time) the paused complaint is not breached
    assert complaints_check_clocks(now=T0 + 16 * DAY).resolution == []
    complaint = complaint_transition(complaint=complaint, to_status=Status.INVESTIGATING, actor=agent(),
                                     now=T0 + 11 * DAY)
    # then after resuming, the breach comes 10 days later than without the pause
    assert complaints_check_clocks(now=T0 + 24 * DAY).resolution == []
    assert complaints_check_clocks(now=T0 + 25 * DAY + HOUR).resolution == [str(complaint.pk)]
    complaint.refresh_from_db()
    assert complaint.resolution_breached_at == T0 + 25 * DAY + HOUR
    assert complaint.escalated_to_dpo
    assert ComplianceAlert.objects.filter(dedupe_key=f"complaint-breach:{complaint.reference}:resolution").exists()


def test_a_resolved_complaint_never_breaches():
    complaint = new_complaint(now=T0)
    complaint_resolve(complaint=complaint, outcome="consent_valid_no_breach", resolution="ok", actor=officer(),
                      now=T0 + HOUR)
    report = complaints_check_clocks(now=T0 + 100 * DAY)
    assert (report.first_response, report.resolution, report.outer_limit) == ([], [], [])


def test_the_statutory_limit_is_alerted_even_while_awaiting_the_customer():
    complaint = new_complaint(now=T0)
    complaint = complaint_transition(complaint=complaint, to_status=Status.ACKNOWLEDGED, actor=agent(), now=T0)
    complaint_transition(complaint=complaint, to_status=Status.AWAITING_CUSTOMER, actor=agent(), note="Waiting",
                         now=T0 + DAY)
    report = complaints_check_clocks(now=T0 + 91 * DAY)
    assert report.outer_limit == [str(complaint.pk)]
    assert ComplianceAlert.objects.filter(kind="complaint_statutory_limit").count() == 1


def test_the_beat_task_runs_as_a_celery_task():
    from django.utils import timezone

    from complaints.tasks import check_clocks_task

    # given a complaint taken in two days ago and never answered
    new_complaint(now=timezone.now() - 2 * DAY)
    # when beat runs the task, then the first response is breached (the resolution is not due yet)
    assert check_clocks_task.delay().get() == {"first_response": 1, "resolution": 0, "outer_limit": 0}
