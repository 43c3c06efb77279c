"""The template admin: the editor writes revisions through the services, lint findings show
beside it, and the workflow actions are gated by role and by four eyes."""

from __future__ import annotations

import pytest

from messaging.models import MessageTemplate
from pandorakart_wa.core.roles import AUDITOR, COMPLIANCE_OFFICER, MARKETING, SUPPORT_AGENT
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
    assert template.current_revision is not None
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
    assert template.current_revision is not None and template.approved_revision is not None
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
    assert template.current_revision is not None
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
    assert template.current_revision is not None
    assert template.current_revision.number == 1


# --- Review on the revision page, lint while drafting, buttons as rows (issue 16) ------------

REVISIONS = "/admin/messaging/templaterevision/"


def _in_review(otp_client, author_role=MARKETING):
    author = UserFactory(roles=[author_role])
    client = otp_client(author)
    client.post(f"{CHANGELIST}add/", add_form())
    template = MessageTemplate.objects.get()
    client.post(f"/admin/messaging/messagetemplate/{template.pk}/submit-review/")
    template.refresh_from_db()
    assert template.status == "in_review"
    return author, client, template


def test_the_author_submits_for_review_from_the_template_page(otp_client):
    author = UserFactory(roles=[MARKETING])
    client = otp_client(author)
    client.post(f"{CHANGELIST}add/", add_form())
    template = MessageTemplate.objects.get()
    page = client.get(f"{CHANGELIST}{template.pk}/change/").content.decode()
    assert "Submit for review" in page
    client.post(f"/admin/messaging/messagetemplate/{template.pk}/submit-review/")
    template.refresh_from_db()
    assert template.status == "in_review"


def test_an_officer_approves_on_the_revision_page_beside_the_content_and_its_lint(otp_client):
    _, _, template = _in_review(otp_client)
    officer = otp_client(UserFactory(roles=[COMPLIANCE_OFFICER]))
    revision = template.current_revision
    page = officer.get(f"{REVISIONS}{revision.pk}/change/").content.decode()
    # the content as the customer reads it (examples filled in), the lint, and the two decisions
    assert "Hi Ravi, your order PK-10023" in page and "No findings: passes lint." in page
    assert 'value="approve"' in page and 'value="reject"' in page
    officer.post(f"{REVISIONS}{revision.pk}/review/", {"decision": "approve", "note": "Clear, utility only."})
    revision.refresh_from_db()
    assert revision.status == "approved" and revision.review_note == "Clear, utility only."


def test_reject_on_the_revision_page_needs_a_note_the_author_then_reads(otp_client):
    _author, author_client, template = _in_review(otp_client)
    officer = otp_client(UserFactory(roles=[COMPLIANCE_OFFICER]))
    revision = template.current_revision
    officer.post(f"{REVISIONS}{revision.pk}/review/", {"decision": "reject", "note": ""})
    revision.refresh_from_db()
    assert revision.status == "in_review"
    officer.post(f"{REVISIONS}{revision.pk}/review/", {"decision": "reject", "note": "Name the courier."})
    revision.refresh_from_db()
    assert revision.status == "rejected"
    index = author_client.get("/admin/").content.decode()
    assert "Name the courier." in index


def test_the_author_is_not_offered_the_review_and_a_forged_post_changes_nothing(otp_client):
    # an officer's own revision: four eyes
    _author, author_client, template = _in_review(otp_client, author_role=COMPLIANCE_OFFICER)
    revision = template.current_revision
    page = author_client.get(f"{REVISIONS}{revision.pk}/change/").content.decode()
    assert 'value="approve"' not in page and "another compliance officer must review it" in page
    author_client.post(f"{REVISIONS}{revision.pk}/review/", {"decision": "approve"})
    revision.refresh_from_db()
    assert revision.status == "in_review"


def test_marketing_s_crafted_approve_on_the_revision_page_changes_nothing(otp_client):
    _, _, template = _in_review(otp_client)
    other_marketer = otp_client(UserFactory(roles=[MARKETING]))
    revision = template.current_revision
    assert 'value="approve"' not in other_marketer.get(f"{REVISIONS}{revision.pk}/change/").content.decode()
    other_marketer.post(f"{REVISIONS}{revision.pk}/review/", {"decision": "approve"})
    revision.refresh_from_db()
    assert revision.status == "in_review" and revision.reviewed_by is None


def test_the_editor_lints_what_is_typed_before_saving(otp_client):
    client = otp_client(UserFactory(roles=[MARKETING]))
    response = client.post("/admin/messaging/messagetemplate/lint/", add_form(
        name="weekend_sale", category="MARKETING", body="HUGE FLASH SALE TODAY ONLY… CLICK NOW to grab deals, {{1}}.",
        body_examples="Priya"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "content.opt_out_missing" in html and "content.shouting" in html
    assert not MessageTemplate.objects.exists()  # nothing saved
    # with a "Stop promotions" quick reply as a button row, the opt-out finding goes
    fixed = client.post("/admin/messaging/messagetemplate/lint/", add_form(
        name="weekend_sale", category="MARKETING", body="Hi {{1}}, our weekend sale is on.", body_examples="Priya",
        **{"buttons-0-type": "QUICK_REPLY", "buttons-0-text": "Stop promotions"})).content.decode()
    assert "content.opt_out_missing" not in fixed
    assert client.get("/admin/messaging/messagetemplate/lint/").status_code == 405
    assert otp_client(UserFactory(roles=[AUDITOR])).post("/admin/messaging/messagetemplate/lint/",
                                                          add_form()).status_code == 403


def test_buttons_are_rows_of_fields_saved_as_meta_s_buttons(otp_client):
    client = otp_client(UserFactory(roles=[MARKETING]))
    response = client.post(f"{CHANGELIST}add/", add_form(**{
        "buttons-0-type": "URL", "buttons-0-text": "Track order",
        "buttons-0-value": "https://www.pandorakart.com/orders/{{1}}", "buttons-0-example": "PK-10023",
        "buttons-1-type": "PHONE_NUMBER", "buttons-1-text": "Call us", "buttons-1-value": "+919227021270",
    }))
    assert response.status_code == 302
    revision = MessageTemplate.objects.get().current_revision
    assert revision is not None
    assert revision.buttons == [
        {"type": "URL", "text": "Track order", "url": "https://www.pandorakart.com/orders/{{1}}", "example": "PK-10023"},
        {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+919227021270"},
    ]
    page = client.get(f"{CHANGELIST}{revision.template_id}/change/").content.decode()
    assert 'name="buttons-0-type"' in page and 'value="Track order"' in page and "[{" not in page
    # a row with a label and no type is a clear error, nothing saved
    bad = client.post(f"{CHANGELIST}add/", add_form(name="other_one", **{"buttons-0-text": "Track"}))
    assert bad.status_code == 200 and "Button 1: choose its type." in bad.content.decode()
