"""Issue 16 in a real browser at 1366 x 768, one test per role, each walking its part of the day:

- Marketing drafts a template, sees the lint as it types, fixes it and submits it for review;
  it is not offered the legal-notice audience.
- The Compliance officer reviews the revision on its own page and approves it; finds the
  customer who replied STOP by number and sees the sale, the STOP and the reply on one page;
  resolves the complaint an agent handed over, with a chosen outcome.
- The Support agent files a complaint, investigates it and hands it to an officer.
- The Auditor reads all of it and changes nothing, even by crafted POSTs.

Screenshots of every step go to test-artifacts/ (named after the test and the step).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from complaints.models import Complaint, Outcome, Status
from complaints.services.intake import complaint_create
from complaints.services.workflow import complaint_hand_off, complaint_transition
from consent.seed import seed_keywords
from messaging.models import Message, MessageKind, MessageTemplate, RevisionStatus
from messaging.outbox import message_accept
from messaging.sending import messages_claim, messages_send_claimed
from messaging.services.common import TemplateFields
from messaging.services.drafting import template_create_draft, template_submit_for_review
from pandorakart_wa.core.roles import AUDITOR, COMPLIANCE_OFFICER, MARKETING, SUPPORT_AGENT
from pandorakart_wa.whatsapp.signature import sign
from tests.complaints.factories import ack_template
from tests.conftest import quiet_hours_off
from tests.e2e.conftest import sign_in
from tests.messaging.sending_helpers import (
    customer,
    inbound_text,
    marketing_template,
    status_item,
    statuses_payload,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = "+919876500001"
WA_ID = "919876500001"
DIGITS = "9876500001"
SALE_TEXT = "Hi Priya, our Diwali sale has 40% off on home decor."


def post_webhook(page: Page, payload: dict[str, Any]) -> None:
    """Meta's POST, signed, through the live server's real webhook endpoint."""
    body = json.dumps(payload).encode()
    response = page.request.post("/webhooks/whatsapp", data=body, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": sign(body, settings.WHATSAPP_APP_SECRET)})
    assert response.status == 200, response.text()


def stop_story(page: Page, template_name: str = "festive_offer") -> Any:
    """A customer opted in at checkout, got the Diwali sale (delivered, read), replied STOP on
    WhatsApp and got the confirmation."""
    seed_keywords()  # a transactional test starts from an empty database
    quiet_hours_off()  # the sale is sent at any hour (by night it would be held, with no wamid)
    contact = customer(1)
    marketing_template(name=template_name)
    sale = message_accept(to=PHONE, template=template_name, language="en", variables=["Priya", "40%"]).message
    messages_send_claimed(messages_claim(ids=[sale.id]))
    sale.refresh_from_db()
    assert sale.wamid is not None, (sale.status, sale.reason)
    for status in ("delivered", "read"):
        post_webhook(page, statuses_payload([status_item(sale.wamid, status, recipient=WA_ID)]))
    stop = inbound_text(WA_ID, "STOP", wamid="wamid.e2e.stop")
    # Meta's timestamp a moment after the sale (Meta's clock is whole seconds; ours is not)
    stop["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(int(time.time()) + 2)
    post_webhook(page, stop)
    reply = Message.objects.get(kind=MessageKind.CONFIRMATION)
    assert reply.contact_id == contact.pk
    return contact


def drafted_revision(author: Any, name: str = "delivery_rescheduled") -> MessageTemplate:
    template = template_create_draft(
        name=name, language="en", category="UTILITY",
        fields=TemplateFields(body="Hi {{1}}, the delivery of your order {{2}} is rescheduled to {{3}}. Sorry for "
                              "the wait.", body_examples=("Priya", "PK-10023", "29 Nov")),
        author=author,
    )
    template_submit_for_review(template=template, actor=author)
    return template


def handed_off_complaint(agent: Any) -> Complaint:
    complaint = complaint_create(channel="email", category="opt_out_not_honoured", phone=PHONE, actor=agent,
                                 description="I replied STOP and still got the Diwali offer.",
                                 contact_details="priya@example.com")
    complaint_transition(complaint=complaint, to_status=Status.INVESTIGATING, actor=agent)
    return complaint_hand_off(complaint=complaint, actor=agent, proposed_outcome=Outcome.CONSENT_VALID_NO_BREACH,
                              findings="The STOP was in force 0.3 s after it arrived; the offer was sent before it.")


def no_horizontal_scroll(page: Page) -> None:
    """Nothing to scroll sideways at 1366 px: neither the page nor a list's own scroll box."""
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url}: the page is {width[0]} px wide in a {width[1]} px window"
    boxes = page.evaluate("""() => [...document.querySelectorAll('#changelist .results, .cd-card, table')]
        .filter(e => e.scrollWidth > e.clientWidth + 1)
        .map(e => `${e.id || e.className || e.tagName}: ${e.scrollWidth} > ${e.clientWidth}`)""")
    assert not boxes, f"{page.url}: scrolls sideways inside {boxes}"


def urls_seen(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    return seen


# --- Marketing -------------------------------------------------------------------------------


def test_marketing_drafts_sees_the_lint_as_it_types_and_submits_for_review(page, staff_user, screenshot):
    marketer = staff_user(MARKETING, username="marketer")
    sign_in(page, marketer)
    expect(page.locator("#queue-drafts")).to_contain_text("Your drafts and revisions sent back")
    screenshot(page, "1-index")
    # drafts a marketing template in capitals and without an opt-out
    page.goto("/admin/messaging/messagetemplate/add/")
    page.fill("#id_name", "weekend_flash_sale")
    page.fill("#id_language", "en")
    page.select_option("#id_category", "MARKETING")
    page.fill("#id_body", "HUGE FLASH SALE TODAY ONLY… CLICK NOW to grab deals on mobiles, {{1}}.")
    page.fill("#id_body_examples", "Priya")
    lint = page.locator("#live-lint")
    # the lint, beside the content, before anything is saved
    expect(lint).to_contain_text("content.opt_out_missing")
    expect(lint).to_contain_text("A run of capitals (HUGE FLASH SALE TODAY ONLY CLICK NOW)")
    assert not MessageTemplate.objects.filter(name="weekend_flash_sale").exists()
    no_horizontal_scroll(page)
    screenshot(page, "2-lint-while-typing")
    # fixes it: calm copy and a "Stop promotions" quick reply, as a button row (no JSON)
    page.fill("#id_body", "Hi {{1}}, our weekend sale has mobiles and laptops at their best prices this month.")
    page.select_option("select[name=buttons-0-type]", "QUICK_REPLY")
    page.fill("input[name=buttons-0-text]", "Stop promotions")
    expect(lint).to_contain_text("No findings: passes lint.")
    screenshot(page, "3-lint-clean")
    page.click("input[name=_continue]")
    expect(page.locator("#submit-review")).to_contain_text("is a draft")
    page.locator("#submit-review button").click()
    expect(page.locator("ul.messagelist")).to_contain_text("submitted for review")
    template = MessageTemplate.objects.get(name="weekend_flash_sale")
    assert template.current_revision is not None
    assert template.current_revision.status == RevisionStatus.IN_REVIEW
    assert template.current_revision.buttons == [{"type": "QUICK_REPLY", "text": "Stop promotions"}]
    screenshot(page, "4-submitted")
    # a campaign never offers Marketing the legal-notice audience
    page.goto("/admin/messaging/campaign/add/")
    options = page.locator("#id_audience option").all_inner_texts()
    assert options and not any("legal notices" in o for o in options)
    # and an approve crafted from the revision page changes nothing
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    page.request.post(f"/admin/messaging/templaterevision/{template.current_revision.pk}/review/",
                      form={"decision": "approve", "csrfmiddlewaretoken": csrf}, headers={"Referer": page.url})
    template.current_revision.refresh_from_db()
    assert template.current_revision.status == RevisionStatus.IN_REVIEW


# --- Compliance officer -------------------------------------------------------------------------


def test_officer_reviews_on_the_revision_page_finds_the_stop_and_resolves_the_hand_off(page, staff_user, screenshot):
    marketer = staff_user(MARKETING, username="marketer")
    agent = staff_user(SUPPORT_AGENT, username="agent-ravi")
    officer = staff_user(COMPLIANCE_OFFICER, username="officer-anita")
    template = drafted_revision(marketer)
    contact = stop_story(page)
    complaint = handed_off_complaint(agent)
    sign_in(page, officer)
    # the index: the officer's queues first
    expect(page.locator("#queue-review")).to_contain_text("delivery_rescheduled (en), revision 1")
    expect(page.locator("#queue-ready")).to_contain_text(complaint.reference)
    no_horizontal_scroll(page)
    screenshot(page, "1-index")

    # 1. reviews the revision where its content is, and approves it with a note
    page.locator("#queue-review a", has_text="delivery_rescheduled").click()
    expect(page.locator("#revision-preview")).to_contain_text("Hi Priya, the delivery of your order PK-10023")
    expect(page.locator("#revision-lint")).to_contain_text("No findings")
    no_horizontal_scroll(page)
    screenshot(page, "2-revision-review")
    page.fill("#review-note", "Utility only, names the order.")
    page.locator("#review-form button[value=approve]").click()
    expect(page.locator("ul.messagelist")).to_contain_text("approved")
    template.refresh_from_db()
    assert template.current_revision is not None
    assert template.current_revision.status == RevisionStatus.APPROVED
    assert template.current_revision.reviewed_by_id == officer.pk

    # 2. finds the customer who replied STOP by number: POSTed, never in a URL
    seen = urls_seen(page)
    page.goto("/admin/")
    page.fill("#pk-find-customer", "98765 00001")
    page.locator("form.pk-find button").click()
    expect(page.locator("#customer-timeline")).to_be_visible()
    assert f"/admin/consent/contact/{contact.pk}/change/" in page.url
    assert not [url for url in seen if DIGITS in url], "the number travelled in a URL"
    timeline = page.locator("#customer-timeline")
    expect(timeline).to_contain_text(SALE_TEXT)  # the sale, as the customer read it
    expect(timeline).to_contain_text("Read")
    expect(timeline.locator("tr.in")).to_contain_text("STOP")
    expect(timeline).to_contain_text("Opted out of Marketing")
    expect(timeline).to_contain_text("You will no longer receive offers from PANDORAKART")  # the reply
    expect(page.locator("#customer-consent")).to_contain_text("Marketing opted out")
    expect(page.locator("#customer-complaints")).to_contain_text(complaint.reference)
    rows = timeline.locator("tbody tr").all_inner_texts()
    order = [next(i for i, r in enumerate(rows) if text in r) for text in (SALE_TEXT, "STOP", "You will no longer")]
    assert order == sorted(order), rows
    expect(page.locator("#content")).not_to_contain_text(PHONE)
    no_horizontal_scroll(page)
    screenshot(page, "3-customer-page")
    page.locator("#customer-tools button", has_text="Reveal number").click()
    expect(page.locator("#content")).to_contain_text(PHONE)
    screenshot(page, "4-reveal")

    # 3. resolves the complaint the agent handed over, with a chosen outcome
    page.goto("/admin/")
    page.locator("#queue-ready a", has_text=complaint.reference).click()
    expect(page.locator("#hand-off-findings")).to_contain_text("The STOP was in force 0.3 s after it arrived")
    expect(page.locator("#id_outcome")).to_have_value("")  # no outcome chosen for the officer
    expect(page.locator("#resolve-form")).to_contain_text("Consent valid - no breach")
    no_horizontal_scroll(page)
    screenshot(page, "5-complaint-ready")
    page.select_option("#id_outcome", Outcome.CONSENT_VALID_NO_BREACH)
    page.fill("#id_resolution", "Your STOP was applied at once; the offer had left a minute before it.")
    page.locator("#resolve-form button[type=submit]").click()
    expect(page.locator("ul.messagelist")).to_contain_text("resolved: Consent valid - no breach")
    expect(page.locator(".inline-group")).to_contain_text("Outcome: Consent valid - no breach. Told the customer:")
    complaint.refresh_from_db()
    assert complaint.status == Status.RESOLVED and complaint.resolved_by_id == officer.pk
    screenshot(page, "6-complaint-resolved")
    # the audit trail reads as people read it
    page.goto(f"/admin/complaints/complaint/{complaint.pk}/auditlog/")
    expect(page.locator("#audit-entries")).to_contain_text("officer-anita")
    expect(page.locator("#audit-entries")).not_to_contain_text("None")
    screenshot(page, "7-complaint-audit-trail")


# --- Support agent --------------------------------------------------------------------------


def test_agent_files_investigates_and_hands_a_complaint_to_an_officer(page, staff_user, screenshot):
    agent = staff_user(SUPPORT_AGENT, username="agent-ravi")
    staff_user(COMPLIANCE_OFFICER, username="officer-anita")
    contact = stop_story(page)
    ack_template()
    sign_in(page, agent)
    expect(page.locator("#queue-mine")).to_contain_text("None assigned to you")
    screenshot(page, "1-index")
    # files the complaint the customer emailed
    page.goto("/admin/complaints/complaint/add/")
    page.select_option("#id_channel", "email")
    page.select_option("#id_category", "opt_out_not_honoured")
    page.fill("#id_description", "I replied STOP and still got the Diwali offer.")
    page.fill("#id_phone", PHONE)
    page.fill("#id_contact_details", "priya@example.com")
    page.locator("input[type=submit]").click()
    expect(page.locator("ul.messagelist")).to_contain_text("recorded")
    complaint = Complaint.objects.get()
    expect(page.locator("#complaint-clocks")).to_contain_text("The automatic WhatsApp receipt does not stop it.")
    no_horizontal_scroll(page)
    screenshot(page, "2-filed")
    # takes it, gives the first response, looks at the customer page, reveals the email
    page.locator("#complaint-actions button", has_text="Assign to me").click()
    expect(page.locator("#complaint-actions")).to_contain_text("agent-ravi")
    page.locator("#step-form button", has_text="Acknowledge").click()
    expect(page.locator("#complaint-clocks")).to_contain_text("stopped: given")
    page.locator("#step-form button", has_text="Investigate").click()
    page.locator("#complaint-tools a", has_text="Customer page").click()
    expect(page.locator("#customer-timeline")).to_contain_text("STOP")
    expect(page.locator("#customer-complaints")).to_contain_text(complaint.reference)
    assert f"/consent/contact/{contact.pk}/" in page.url
    screenshot(page, "3-customer-page")
    page.go_back()
    page.locator("#complaint-tools button", has_text="Reveal contact details").click()
    expect(page.locator("#content")).to_contain_text("priya@example.com")
    page.go_back()
    page.reload()
    # hands it to an officer with findings and a proposed outcome; resolving is not offered
    expect(page.locator("#resolve-form")).to_have_count(0)
    page.fill("#id_findings", "The STOP was in force 0.3 s after it arrived; the offer had left before it.")
    page.select_option("#id_proposed_outcome", Outcome.CONSENT_VALID_NO_BREACH)
    page.locator("#hand-off-form button").click()
    expect(page.locator("ul.messagelist")).to_contain_text("ready for an officer")
    expect(page.locator("#complaint-tools")).to_contain_text("Ready for an officer")
    complaint.refresh_from_db()
    assert complaint.status == Status.READY_FOR_OFFICER and complaint.assignee_id == agent.pk
    no_horizontal_scroll(page)
    screenshot(page, "4-handed-off")


# --- Auditor ---------------------------------------------------------------------------------


def test_auditor_reads_everything_and_changes_nothing(page, staff_user, screenshot):
    marketer = staff_user(MARKETING, username="marketer")
    agent = staff_user(SUPPORT_AGENT, username="agent-ravi")
    auditor = staff_user(AUDITOR, username="auditor-meera")
    template = drafted_revision(marketer)
    assert template.current_revision is not None
    contact = stop_story(page)
    complaint = handed_off_complaint(agent)
    sign_in(page, auditor)
    screenshot(page, "1-index")
    # the customer page, masked, without the reveal
    page.fill("#pk-find-customer", PHONE)
    page.locator("form.pk-find button").click()
    expect(page.locator("#customer-timeline")).to_contain_text("STOP")
    expect(page.locator("#customer-tools")).not_to_contain_text("Reveal number")
    expect(page.locator("#content")).not_to_contain_text(PHONE)
    screenshot(page, "2-customer-page")
    # the complaint: read only, the evidence JSON downloads (a read, audited)
    page.goto(f"/admin/complaints/complaint/{complaint.pk}/change/")
    expect(page.locator("#complaint-actions")).to_contain_text("Read only")
    with page.expect_download() as download:
        page.locator("#complaint-tools a", has_text="Download evidence (JSON)").click()
    pack = json.loads(Path(download.value.path()).read_text())
    assert pack["complaint"]["reference"] == complaint.reference
    screenshot(page, "3-complaint-read-only")
    # the revision: no review form
    page.goto(f"/admin/messaging/templaterevision/{template.current_revision.pk}/change/")
    expect(page.locator("#review-not-yours")).to_contain_text("Compliance officers review revisions.")
    screenshot(page, "4-revision-read-only")
    # the audit trail, where the agent's hand-off and the webhooks' changes are
    page.goto("/admin/audit/")
    expect(page.locator("#result_list")).to_contain_text(complaint.reference)
    no_horizontal_scroll(page)
    screenshot(page, "5-audit-trail")
    # and crafted POSTs change nothing
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    headers = {"Referer": page.url}
    page.request.post(f"/admin/messaging/templaterevision/{template.current_revision.pk}/review/",
                      form={"decision": "approve", "csrfmiddlewaretoken": csrf}, headers=headers)
    page.request.post(f"/admin/complaints/complaint/{complaint.pk}/act/", form={
        "action": "resolve", "outcome": Outcome.RESOLVED_OTHER, "resolution": "x", "csrfmiddlewaretoken": csrf},
        headers=headers)
    page.request.post(f"/admin/consent/contact/{contact.pk}/reveal/", form={"csrfmiddlewaretoken": csrf},
                      headers=headers)
    template.current_revision.refresh_from_db()
    complaint.refresh_from_db()
    assert template.current_revision.status == RevisionStatus.IN_REVIEW
    assert complaint.status == Status.READY_FOR_OFFICER


# --- Lists at 1366 px ---------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "column"), [
    ("/admin/messaging/message/", "status_column"),
    ("/admin/audit/", "changes_summary"),
    ("/admin/consent/contact/", "consent_summary"),
    ("/admin/complaints/complaint/", "receipt"),
    ("/admin/core/webhookitem/", "event_link"),
])
def test_key_columns_are_visible_without_scrolling_sideways(page, staff_user, screenshot, url, column):
    agent = staff_user(SUPPORT_AGENT, username="agent-ravi")
    stop_story(page)
    handed_off_complaint(agent)
    sign_in(page, staff_user(COMPLIANCE_OFFICER))
    page.goto(url)
    header = page.locator(f"#result_list th.column-{column}")
    expect(header).to_be_visible()
    box = header.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1366, f"{column} ends at {box}"
    cell = page.locator(f"#result_list td.field-{column}").first
    expect(cell).to_be_visible()
    cell_box = cell.bounding_box()
    assert cell_box is not None and cell_box["x"] + cell_box["width"] <= 1366
    no_horizontal_scroll(page)
    screenshot(page, column)
