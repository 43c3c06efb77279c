"""The internal workflow: drafts, four-eyes review per role, lint gates and revisions."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from messaging.models import LintTerm, RevisionStatus, TemplateRevision, TemplateStatusEvent
from messaging.selectors import template_usable
from messaging.services.common import FourEyesViolation, TemplateFields, TemplateLintFailed
from messaging.services.drafting import (
    template_approve,
    template_create_draft,
    template_reject,
    template_revise,
    template_submit_for_review,
)
from messaging.services.holds import lint_term_save
from messaging.services.submission import template_submit_to_meta
from pandorakart_wa.core.audit import system_user
from pandorakart_wa.core.roles import AUDITOR, COMPLIANCE_OFFICER, MARKETING, SUPPORT_AGENT
from tests.messaging.factories import UTILITY_BODY, UTILITY_EXAMPLES, UserFactory, make_usable_template

pytestmark = pytest.mark.django_db

GOOD = TemplateFields(body=UTILITY_BODY, body_examples=UTILITY_EXAMPLES)


def draft(author, name: str = "order_shipped", fields: TemplateFields = GOOD, category: str = "UTILITY"):
    return template_create_draft(name=name, language="en", category=category, fields=fields, author=author)


def test_marketing_drafts_and_a_compliance_officer_approves():
    # given a marketer's draft in review
    marketer = UserFactory(roles=[MARKETING])
    officer = UserFactory(roles=[COMPLIANCE_OFFICER])
    template = draft(marketer)
    template_submit_for_review(template=template, actor=marketer)
    # when a compliance officer approves it
    revision = template_approve(template=template, actor=officer, note="Order update, no promotion")
    # then the revision is approved by the officer, with the workflow in the history
    template.refresh_from_db()
    assert (template.status, revision.status, revision.reviewed_by) == ("approved", "approved", officer)
    assert template.purpose == "order_updates"
    events = list(template.events.filter(kind="workflow").order_by("id").values_list("new_value", flat=True))
    assert events == ["draft", "in_review", "approved"]


@pytest.mark.parametrize("role", [MARKETING, AUDITOR, SUPPORT_AGENT])
def test_only_compliance_officers_approve(role):
    # given a draft in review and a staff member of another role
    template = draft(UserFactory(roles=[MARKETING]))
    template_submit_for_review(template=template, actor=UserFactory(roles=[MARKETING]))
    # when they try to approve / then it is refused and the revision stays in review
    with pytest.raises(PermissionDenied):
        template_approve(template=template, actor=UserFactory(roles=[role]))
    with pytest.raises(PermissionDenied):
        template_reject(template=template, actor=UserFactory(roles=[role]), reason="no")
    template.refresh_from_db()
    assert template.status == "in_review"


@pytest.mark.parametrize("role", [AUDITOR, SUPPORT_AGENT])
def test_auditors_and_support_agents_cannot_draft(role):
    with pytest.raises(PermissionDenied):
        draft(UserFactory(roles=[role]))


def test_the_author_can_never_approve_their_own_revision_even_as_compliance_officer_or_superuser():
    # given a compliance officer who is also a superuser writes a template
    author = UserFactory(roles=[COMPLIANCE_OFFICER], is_superuser=True)
    template = draft(author)
    template_submit_for_review(template=template, actor=author)
    # when they approve it themselves / then four eyes refuses
    with pytest.raises(FourEyesViolation):
        template_approve(template=template, actor=author)
    template.refresh_from_db()
    assert template.status == "in_review"
    # and another officer can
    template_approve(template=template, actor=UserFactory(roles=[COMPLIANCE_OFFICER]))


def test_system_actors_are_bound_by_four_eyes_too():
    # given a seed author (a system user) wrote the revision
    author = system_user("seed-author")
    template = draft(author)
    template_submit_for_review(template=template, actor=author)
    # when the same system user approves / then refused
    with pytest.raises(FourEyesViolation):
        template_approve(template=template, actor=author)


def test_the_database_refuses_a_self_review_written_around_the_service():
    # given a revision / when its reviewer is set to its author directly
    template = draft(UserFactory(roles=[MARKETING]))
    revision = template.current_revision
    # then the check constraint refuses it
    with pytest.raises(IntegrityError), transaction.atomic():
        TemplateRevision.objects.filter(pk=revision.pk).update(reviewed_by=revision.author)


def test_lint_errors_block_review_and_the_findings_are_stored_on_the_revision():
    # given a draft whose body ends with a variable
    marketer = UserFactory(roles=[MARKETING])
    template = draft(marketer, fields=TemplateFields(body="Your order has shipped to {{1}}", body_examples=["Pune"]))
    revision = template.current_revision
    assert revision.lint_error_count == 1
    assert revision.lint_findings[0]["rule"] == "variables.at_end"
    # when it is submitted for review / then it is refused, naming the component and rule
    with pytest.raises(TemplateLintFailed) as caught:
        template_submit_for_review(template=template, actor=marketer)
    assert "body" in str(caught.value) and "variables.at_end" in str(caught.value)
    template.refresh_from_db()
    assert template.status == "draft"


def test_a_term_added_by_staff_after_review_blocks_approval():
    # given a draft in review that says "useless" nowhere but "grumpy" once
    fields = TemplateFields(body="Hi {{1}}, sorry for the grumpy delay on order {{2}}. It ships by {{3}}.",
                            body_examples=UTILITY_EXAMPLES)
    template = draft(UserFactory(roles=[MARKETING]), fields=fields)
    template_submit_for_review(template=template, actor=UserFactory(roles=[MARKETING]))
    officer = UserFactory(roles=[COMPLIANCE_OFFICER])
    # when a compliance officer lists "grumpy" as disrespectful
    lint_term_save(term=LintTerm(kind=LintTerm.Kind.ABUSIVE, term="grumpy"), actor=officer)
    # then the revision is re-linted at once and cannot be approved
    template.current_revision.refresh_from_db()
    assert template.current_revision.lint_error_count == 1
    with pytest.raises(TemplateLintFailed):
        template_approve(template=template, actor=UserFactory(roles=[COMPLIANCE_OFFICER]))


def test_a_term_added_by_staff_stops_a_template_in_use():
    # given a usable template
    template = make_usable_template(body="Hi {{1}}, your order {{2}} ships by {{3}}, pronto.")
    assert template_usable(template) == (True, None)
    # when "pronto" is listed as abusive
    lint_term_save(term=LintTerm(kind=LintTerm.Kind.ABUSIVE, term="Pronto"), actor=system_user("test"))
    # then the template is no longer usable
    template.refresh_from_db()
    assert template.approved_revision is not None
    template.approved_revision.refresh_from_db()
    assert template_usable(template) == (False, "template_not_approved")


def test_reject_needs_a_reason_and_sends_the_revision_back():
    marketer = UserFactory(roles=[MARKETING])
    officer = UserFactory(roles=[COMPLIANCE_OFFICER])
    template = draft(marketer)
    template_submit_for_review(template=template, actor=marketer)
    with pytest.raises(ValidationError):
        template_reject(template=template, actor=officer, reason="  ")
    # when rejected with a reason
    revision = template_reject(template=template, actor=officer, reason="Say 'dispatched', not 'shipped'")
    # then
    assert revision.status == "rejected" and revision.review_note == "Say 'dispatched', not 'shipped'"
    # and it can only move on through a new revision
    with pytest.raises(ValidationError):
        template_submit_for_review(template=template, actor=marketer)
    template_revise(template=template, fields=GOOD, author=marketer)
    template_submit_for_review(template=template, actor=marketer)


def test_revising_an_approved_template_needs_review_again_and_the_old_revision_keeps_sending(outbox):
    # given a template approved, submitted and approved by Meta
    marketer = UserFactory(roles=[MARKETING])
    officer = UserFactory(roles=[COMPLIANCE_OFFICER])
    template = draft(marketer)
    template_submit_for_review(template=template, actor=marketer)
    template_approve(template=template, actor=officer)
    first = template_submit_to_meta(template=template, actor=officer)
    template.refresh_from_db()
    template.meta_status = "APPROVED"
    template.save()
    assert template_usable(template) == (True, None)
    # when another compliance officer edits it
    editor = UserFactory(roles=[COMPLIANCE_OFFICER])
    new_body = "Hi {{1}}, your order {{2}} was dispatched and should reach you by {{3}}. Track it in the app."
    second = template_revise(template=template, fields=TemplateFields(body=new_body, body_examples=UTILITY_EXAMPLES),
                             author=editor)
    # then the edit is a new draft, and the approved revision keeps being the one in use
    template.refresh_from_db()
    assert (second.number, second.status, template.status) == (2, "draft", "draft")
    assert template.approved_revision == first and template_usable(template) == (True, None)
    # and the edit cannot go to Meta before a second person approves it
    with pytest.raises(ValidationError):
        template_submit_to_meta(template=template, actor=officer)
    template_submit_for_review(template=template, actor=editor)
    with pytest.raises(FourEyesViolation):
        template_approve(template=template, actor=editor)
    template_approve(template=template, actor=officer)
    template_submit_to_meta(template=template, actor=officer)
    # then Meta reviews it again: unusable until Meta approves the edit
    template.refresh_from_db()
    first.refresh_from_db()
    assert template.approved_revision == second and first.status == RevisionStatus.SUPERSEDED
    assert template.meta_status == "PENDING"
    assert template_usable(template) == (False, "template_not_approved")


def test_category_cannot_change_once_meta_has_the_template():
    template = make_usable_template()
    with pytest.raises(ValidationError):
        template_revise(template=template, fields=GOOD, author=UserFactory(roles=[MARKETING]), category="MARKETING")


def test_a_draft_can_change_category_and_its_purpose_follows():
    marketer = UserFactory(roles=[MARKETING])
    template = draft(marketer)
    fields = TemplateFields(body="Hi {{1}}, new kurtas just arrived for {{2}}. Take a look in the app.",
                            body_examples=["Ravi", "Diwali"], buttons=[{"type": "QUICK_REPLY", "text": "Stop promotions"}])
    template_revise(template=template, fields=fields, author=marketer, category="MARKETING")
    template.refresh_from_db()
    assert (template.category, template.purpose) == ("MARKETING", "marketing")
    assert template.current_revision.lint_error_count == 0
    assert TemplateStatusEvent.objects.filter(template=template, kind="workflow").count() == 2
