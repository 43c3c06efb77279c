"""The template admin: the editor writes revisions through the services, lint findings show
beside it, and the workflow actions are gated by role and by four eyes."""

from __future__ import annotations

import pytest

from messaging.models import MessageTemplate
from pandorakart_wa.roles import AUDITOR, COMPLIANCE_OFFICER, MARKETING, SUPPORT_AGENT
from tests.messaging.factories import UTILITY_BODY, UserFactory, make_usable_template

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/messaging/messagetemplate/"


def add_form(**overrides: str) -> dict[str, str]:
    data = {"name": "order_shipped", "language": "en", "category": "UTILITY", "header_text": "", "body": UTILITY_BODY,
            "footer": "", "buttons": "[]", "header_examples": "", "body_examples": "Ravi\nPK-10023\n27 Nov",
            "revisions-TOTAL_FORMS": "0", "revisions-INITIAL_FORMS": "0", "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0"}
    data.update(overrides)
    return data


def test_marketing_drafts_in_the_editor_and_sees_the_lint_findings(otp_client):
    # given a marketer signed in
    marketer = UserFactory(roles=[MARKETING])
    client = otp_client(marketer)
    # when they add a template whose body ends with a variable
    response = client.post(f"{CHANGELIST}add/", add_form(body="Your order has shipped to {{1}}", body_examples="Pune"))
    # then a draft exists, authored by them, and its page shows the finding beside the content
    assert response.status_code == 302, response.content[:2000]
    template = MessageTemplate.objects.get(name="order_shipped")
    assert template.current_revision.author == marketer and template.status == "draft"
    page = client.get(f"{CHANGELIST}{template.pk}/change/").content.decode()
    assert "variables.at_end" in page and "Lint findings" in page


def test_editing_content_in_the_admin_writes_a_new_revision(otp_client):
    template = make_usable_template()
    client = otp_client(UserFactory(roles=[MARKETING]))
    data = add_form(body=UTILITY_BODY.replace("shipped", "been dispatched"))
    response = client.post(f"{CHANGELIST}{template.pk}/change/", data)
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.current_revision.number == 2 and template.current_revision.status == "draft"
    assert template.approved_revision.number == 1


def test_marketing_does_not_get_the_approve_action_and_a_forged_post_is_refused(otp_client):
    # given a draft in review and a marketer
    author = UserFactory(roles=[MARKETING])
    client = otp_client(author)
    client.post(f"{CHANGELIST}add/", add_form())
    template = MessageTemplate.objects.get()
    client.post(CHANGELIST, {"action": "submit_for_review", "_selected_action": [template.pk]})
    template.refresh_from_db()
    assert template.status == "in_review"
    # when they look at the actions / then approve is not offered
    page = client.get(CHANGELIST).content.decode()
    assert 'value="approve"' not in page and 'value="submit_for_review"' in page
    # and posting it anyway changes nothing
    client.post(CHANGELIST, {"action": "approve", "_selected_action": [template.pk]})
    template.refresh_from_db()
    assert template.status == "in_review"


def test_a_compliance_officer_cannot_approve_their_own_revision_in_the_admin(otp_client):
    officer = UserFactory(roles=[COMPLIANCE_OFFICER])
    client = otp_client(officer)
    client.post(f"{CHANGELIST}add/", add_form())
    template = MessageTemplate.objects.get()
    client.post(CHANGELIST, {"action": "submit_for_review", "_selected_action": [template.pk]})
    response = client.post(CHANGELIST, {"action": "approve", "_selected_action": [template.pk]}, follow=True)
    template.refresh_from_db()
    assert template.status == "in_review"
    assert "cannot approve" in response.content.decode()
    # and another officer can
    other = otp_client(UserFactory(roles=[COMPLIANCE_OFFICER]))
    other.post(CHANGELIST, {"action": "approve", "_selected_action": [template.pk]})
    template.refresh_from_db()
    assert template.status == "approved"


def test_reject_asks_for_a_reason_then_rejects(otp_client):
    author = UserFactory(roles=[MARKETING])
    otp_client(author).post(f"{CHANGELIST}add/", add_form())
    template = MessageTemplate.objects.get()
    otp_client(author).post(CHANGELIST, {"action": "submit_for_review", "_selected_action": [template.pk]})
    officer = otp_client(UserFactory(roles=[COMPLIANCE_OFFICER]))
    page = officer.post(CHANGELIST, {"action": "reject", "_selected_action": [template.pk]})
    assert page.status_code == 200 and "Why are these revisions rejected?" in page.content.decode()
    officer.post(CHANGELIST, {"action": "reject", "_selected_action": [template.pk], "confirm": "yes",
                              "reason": "Name the courier"})
    template.refresh_from_db()
    assert template.status == "rejected" and template.current_revision.review_note == "Name the courier"


@pytest.mark.parametrize("role", [AUDITOR, SUPPORT_AGENT])
def test_auditors_and_support_agents_view_but_cannot_add(otp_client, role):
    template = make_usable_template()
    client = otp_client(UserFactory(roles=[role]))
    assert client.get(CHANGELIST).status_code == 200
    assert client.get(f"{CHANGELIST}{template.pk}/change/").status_code == 200
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    client.post(f"{CHANGELIST}{template.pk}/change/", add_form(body="Changed {{1}} {{2}} {{3}} here."))
    template.refresh_from_db()
    assert template.current_revision.number == 1
