"""Issue 8's flow in a real browser: a compliance officer signs in with 2FA, reads the dashboard,
approves a template someone else drafted, resolves a complaint, and finds both actions in the
audit trail; a support agent is refused the approval."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from complaints.models import Complaint
from complaints.services.intake import complaint_create
from complaints.services.workflow import complaint_transition
from consent.purposes import TemplateCategory
from messaging.models import MessageTemplate, RevisionStatus
from messaging.services.common import TemplateFields
from messaging.services.drafting import template_create_draft, template_submit_for_review
from pandorakart_wa.core.roles import COMPLIANCE_OFFICER, MARKETING, SUPPORT_AGENT
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def drafted_template(staff_user):
    """A utility template written and sent for review by someone in Marketing."""
    author = staff_user(MARKETING, username="marketer")
    template = template_create_draft(
        name="delivery_rescheduled", language="en", category=TemplateCategory.UTILITY,
        fields=TemplateFields(
            body="Hi {{1}}, the delivery of your order {{2}} is rescheduled to {{3}}. Sorry for the wait.",
            body_examples=("Priya", "PK-10023", "29 Nov"),
        ),
        author=author,
    )
    template_submit_for_review(template=template, actor=author)
    return template


@pytest.fixture
def complaint_under_investigation(staff_user):
    agent = staff_user(SUPPORT_AGENT, username="agent-on-duty")
    complaint = complaint_create(channel="email", category="unwanted_messages",
                                 description="I keep getting offers after replying STOP", actor=agent)
    complaint_transition(complaint=complaint, to_status="acknowledged", actor=agent)
    complaint_transition(complaint=complaint, to_status="investigating", actor=agent)
    return complaint


def select_and_run(page, object_pk: int, action: str) -> None:
    page.check(f"#result_list input[name=_selected_action][value='{object_pk}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def test_officer_approves_resolves_and_finds_both_in_the_audit_trail(
    page, staff_user, drafted_template, complaint_under_investigation, screenshot
):
    officer = staff_user(COMPLIANCE_OFFICER, username="officer")
    # the officer signs in with password and authenticator code
    sign_in(page, officer)
    # the dashboard renders its charts
    page.goto("/admin/compliance/")
    expect(page.locator("svg").first).to_be_visible()
    assert page.locator("svg rect, svg circle, svg path").count() > 0
    screenshot(page, "flow-dashboard")
    # approves the template drafted by Marketing
    page.goto("/admin/messaging/messagetemplate/")
    select_and_run(page, drafted_template.pk, "approve")
    expect(page.locator("ul.messagelist")).to_be_visible()
    drafted_template.refresh_from_db()
    assert drafted_template.current_revision.status == RevisionStatus.APPROVED
    assert drafted_template.current_revision.reviewed_by_id == officer.pk
    # resolves the complaint with an outcome
    page.goto(f"/admin/complaints/complaint/{complaint_under_investigation.pk}/change/")
    page.select_option("select[name=outcome]", "consent_valid_no_breach")
    page.fill("textarea[name=resolution]", "Your consent was recorded at checkout; the STOP was applied at once.")
    page.click("form:has(input[name=action][value=resolve]) button[type=submit]")
    expect(page.locator("ul.messagelist")).to_contain_text("resolved")
    complaint = Complaint.objects.get(pk=complaint_under_investigation.pk)
    assert complaint.status == "resolved"
    # and finds both actions in the audit trail, under their own name
    page.goto("/admin/audit/")
    page.locator("#changelist-filter details[data-filter-title='actor'] a", has_text=officer.username).click()
    rows = page.locator("#result_list tbody")
    expect(rows).to_contain_text("delivery_rescheduled")
    expect(rows).to_contain_text(complaint.reference)
    screenshot(page, "flow-audit-trail")


def test_support_agent_cannot_approve_a_template(page, staff_user, drafted_template, screenshot):
    agent = staff_user(SUPPORT_AGENT, username="agent")
    sign_in(page, agent)
    page.goto("/admin/messaging/messagetemplate/")
    # the approve action is not offered to a support agent
    options = page.locator("select[name=action] option").all_inner_texts()
    assert not any("Approve" in option for option in options)
    # and posting it anyway (a valid form, CSRF token included) changes nothing
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        "/admin/messaging/messagetemplate/",
        form={"action": "approve", "_selected_action": str(drafted_template.pk), "csrfmiddlewaretoken": csrf},
        headers={"Referer": page.url},
    )
    assert response.status == 200  # the changelist again: the action is unknown to this role
    template = MessageTemplate.objects.get(pk=drafted_template.pk)
    assert template.current_revision is not None
    assert template.current_revision.status == RevisionStatus.IN_REVIEW
    screenshot(page, "flow-support-agent-templates")
