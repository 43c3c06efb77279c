"""The investigation workflow: each step allowed and refused by role, assignment, escalation,
notes, and outcomes that act through consent and messaging."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from complaints.models import ComplaintAction, Outcome, Status
from complaints.services.common import TRANSITIONS
from complaints.services.handling import complaint_add_note, complaint_assign, complaint_escalate
from complaints.services.workflow import allowed_steps, complaint_resolve, complaint_transition
from consent.models import ConsentEvent, ConsentState
from messaging.models import HoldReason, TemplateStatusEvent
from messaging.selectors import template_usable
from profile.models import ComplianceAlert
from tests.complaints.factories import agent, auditor, drive, new_complaint, officer
from tests.messaging.sending_helpers import customer, marketing_template

pytestmark = pytest.mark.django_db

INVESTIGATION_STEPS = [(frm, to) for (frm, to), perm in TRANSITIONS.items() if perm.endswith("investigate_complaint")]
COMPLIANCE_STEPS = [(frm, to) for (frm, to), perm in TRANSITIONS.items() if perm.endswith("resolve_complaint")]


@pytest.mark.parametrize(("from_status", "to_status"), INVESTIGATION_STEPS)
def test_investigation_steps_are_for_agents_and_officers_not_auditors(from_status, to_status):
    for make_user, allowed in ((agent, True), (officer, True), (auditor, False)):
        # given a complaint in `from_status`
        complaint = drive(new_complaint(), from_status)
        user = make_user()
        # when the user takes the step
        if allowed:
            moved = complaint_transition(complaint=complaint, to_status=to_status, actor=user, note="Asked for a screenshot")
            # then it moves, and the timeline names who did it
            assert moved.status == to_status
            last = moved.actions.filter(kind=ComplaintAction.Kind.STATUS).last()
            assert last is not None
            assert (last.from_status, last.to_status, last.actor) == (from_status, to_status, user)
        else:
            with pytest.raises(PermissionDenied):
                complaint_transition(complaint=complaint, to_status=to_status, actor=user, note="x")
            complaint.refresh_from_db()
            assert complaint.status == from_status


@pytest.mark.parametrize(("from_status", "to_status"), COMPLIANCE_STEPS)
def test_close_and_reopen_are_for_compliance_officers_only(from_status, to_status):
    for make_user in (agent, auditor):
        complaint = drive(new_complaint(), from_status)
        with pytest.raises(PermissionDenied):
            complaint_transition(complaint=complaint, to_status=to_status, actor=make_user(), note="x")
        complaint.refresh_from_db()
        assert complaint.status == from_status
    complaint = drive(new_complaint(), from_status)
    moved = complaint_transition(complaint=complaint, to_status=to_status, actor=officer(), note="New evidence")
    assert moved.status == to_status


@pytest.mark.parametrize("from_status", [Status.RECEIVED, Status.ACKNOWLEDGED, Status.INVESTIGATING,
                                         Status.AWAITING_CUSTOMER, Status.REOPENED])
def test_resolving_is_for_compliance_officers_only(from_status):
    for make_user in (agent, auditor):
        complaint = drive(new_complaint(), from_status)
        with pytest.raises(PermissionDenied):
            complaint_resolve(complaint=complaint, outcome=Outcome.CONSENT_VALID_NO_BREACH, resolution="ok",
                              actor=make_user())
    complaint = drive(new_complaint(), from_status)
    resolved = complaint_resolve(complaint=complaint, outcome=Outcome.CONSENT_VALID_NO_BREACH,
                                 resolution="Consent was given at checkout.", actor=officer())
    assert resolved.status == Status.RESOLVED
    assert resolved.outcome == Outcome.CONSENT_VALID_NO_BREACH
    assert resolved.resolved_at is not None


def test_steps_outside_the_workflow_are_refused():
    # given a received complaint
    complaint = new_complaint()
    # when an officer tries to close it before it is resolved, then it is refused
    with pytest.raises(ValidationError):
        complaint_transition(complaint=complaint, to_status=Status.CLOSED, actor=officer())
    # a closed complaint cannot be resolved again
    closed = drive(new_complaint(), Status.CLOSED)
    with pytest.raises(ValidationError):
        complaint_resolve(complaint=closed, outcome=Outcome.CONSENT_VALID_NO_BREACH, resolution="x", actor=officer())


def test_awaiting_the_customer_and_reopening_need_a_note():
    complaint = drive(new_complaint(), Status.INVESTIGATING)
    with pytest.raises(ValidationError) as refused:
        complaint_transition(complaint=complaint, to_status=Status.AWAITING_CUSTOMER, actor=agent(), note=" ")
    assert "note" in refused.value.message_dict


def test_allowed_steps_follow_the_role():
    complaint = drive(new_complaint(), Status.INVESTIGATING)
    assert set(allowed_steps(complaint, agent())) == {Status.AWAITING_CUSTOMER, Status.READY_FOR_OFFICER}
    assert set(allowed_steps(complaint, officer())) == {Status.AWAITING_CUSTOMER, Status.READY_FOR_OFFICER,
                                                        Status.RESOLVED}
    assert allowed_steps(complaint, auditor()) == []


def test_reopening_clears_the_resolution_but_the_timeline_keeps_it():
    complaint = drive(new_complaint(), Status.RESOLVED)
    reopened = complaint_transition(complaint=complaint, to_status=Status.REOPENED, actor=officer(),
                                    note="The customer got another offer")
    assert (reopened.outcome, reopened.resolution, reopened.resolved_at) == ("", "", None)
    kinds = list(reopened.actions.values_list("to_status", flat=True))
    assert Status.RESOLVED in kinds and kinds[-1] == Status.REOPENED


def test_an_agent_takes_a_complaint_but_only_an_officer_assigns_others():
    complaint = new_complaint()
    support, other = agent(), agent()
    # an agent assigns themselves
    assert complaint_assign(complaint=complaint, assignee=support, actor=support).assignee == support
    # but not someone else
    with pytest.raises(PermissionDenied):
        complaint_assign(complaint=complaint, assignee=other, actor=support)
    # an officer assigns anyone who investigates, never an auditor
    assert complaint_assign(complaint=complaint, assignee=other, actor=officer()).assignee == other
    with pytest.raises(ValidationError):
        complaint_assign(complaint=complaint, assignee=auditor(), actor=officer())
    # auditors cannot take complaints
    reader = auditor()
    with pytest.raises(PermissionDenied):
        complaint_assign(complaint=complaint, assignee=reader, actor=reader)


def test_escalation_is_a_flag_for_officers_and_alerts_compliance():
    complaint = drive(new_complaint(), Status.INVESTIGATING)
    with pytest.raises(PermissionDenied):
        complaint_escalate(complaint=complaint, reason="Possible data breach", actor=agent())
    dpo_bound = complaint_escalate(complaint=complaint, reason="Possible data breach", actor=officer())
    assert dpo_bound.escalated_to_dpo and dpo_bound.status == Status.INVESTIGATING
    assert ComplianceAlert.objects.filter(kind="complaint_escalated", object_id=str(complaint.pk)).exists()


def test_notes_are_internal_and_never_for_auditors():
    complaint = new_complaint()
    note = complaint_add_note(complaint=complaint, note="Called the courier", actor=agent())
    assert note.internal and note.kind == ComplaintAction.Kind.NOTE
    with pytest.raises(PermissionDenied):
        complaint_add_note(complaint=complaint, note="x", actor=auditor())


def test_outcome_consent_missing_suppresses_the_contact_in_the_ledger():
    # given a complaint from a customer holding marketing and order consent
    contact = customer(1)
    complaint = new_complaint(phone=contact.phone)
    before = ConsentEvent.objects.filter(contact=contact).count()
    # when an officer resolves it as "consent missing"
    complaint_resolve(complaint=complaint, outcome=Outcome.CONSENT_MISSING_CONTACT_SUPPRESSED,
                      resolution="We could not find your consent; you will get no more messages.", actor=officer())
    # then the customer is opted out of every purpose through the consent ledger
    states = dict(ConsentState.objects.filter(contact=contact).values_list("purpose", "status"))
    assert set(states.values()) == {"opted_out"} and len(states) == 4
    assert ConsentEvent.objects.filter(contact=contact).count() == before + 4
    action = complaint.actions.get(kind=ComplaintAction.Kind.OUTCOME_ACTION)
    assert len(action.detail["consent_events"]) == 4


def test_outcome_template_misclassified_holds_the_template():
    # given a complaint about a marketing message
    contact = customer(2)
    template = marketing_template()
    complaint = new_complaint(phone=contact.phone, template=template)
    # when resolved as misclassified
    complaint_resolve(complaint=complaint, outcome=Outcome.TEMPLATE_MISCLASSIFIED_PAUSED,
                      resolution="The offer went out as an order update; we stopped it.", actor=officer())
    # then the template is held through messaging and unusable until released
    template.refresh_from_db()
    assert template.hold_reason == HoldReason.COMPLAINT
    assert template_usable(template) == (False, "template_paused")
    assert complaint.reference in TemplateStatusEvent.objects.get(template=template, kind="hold").reason


def test_an_outcome_that_cannot_act_rolls_everything_back():
    # given an anonymous complaint (no customer, no template)
    complaint = new_complaint()
    # when resolved with outcomes that need a customer or a template
    for outcome in (Outcome.CONSENT_MISSING_CONTACT_SUPPRESSED, Outcome.CONTENT_WITHDRAWN):
        with pytest.raises(ValidationError) as refused:
            complaint_resolve(complaint=complaint, outcome=outcome, resolution="x", actor=officer())
        assert "outcome" in refused.value.message_dict
    # then nothing changed
    complaint.refresh_from_db()
    assert complaint.status == Status.RECEIVED and complaint.outcome == ""
