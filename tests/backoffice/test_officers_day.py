"""Issue 16, the compliance officer's day, screen by screen: the single customer page and finding
a customer without the number in a URL, the hand-off from agent to officer, the complaint page's
forms and clocks, the audit trail as staff read it, unlocking a sign-in, the legal-notice
audience, the index's work panels and the dashboard's "Verify now"."""

from __future__ import annotations

import json
from typing import Any

import pytest
from auditlog.models import LogEntry
from axes.models import AccessAttempt
from django.urls import reverse

from complaints.models import Acknowledgement, Complaint, ComplaintAction, Outcome, Status
from complaints.selectors import public_document
from complaints.services.handling import complaint_assign
from complaints.services.workflow import complaint_hand_off, complaint_resolve, complaint_transition
from consent.models import LedgerVerification
from messaging.campaigns import CampaignError, campaign_create
from messaging.models import Campaign, Message, MessageKind
from messaging.outbox import message_accept
from messaging.sending import messages_claim, messages_send_claimed
from pandorakart_wa.core.admin.history import readable_changes
from pandorakart_wa.core.api.keys import api_key_ensure
from pandorakart_wa.core.audit import log_access
from pandorakart_wa.core.models import StorefrontApiKey
from pandorakart_wa.webhooks.selectors import inbound_messages_for
from tests.backoffice.helpers import otp_force_login
from tests.complaints.factories import drive, new_complaint
from tests.messaging.sending_helpers import (
    customer,
    inbound_text,
    marketing_template,
    post_webhook,
    status_item,
    statuses_payload,
    utility_template,
    wamid_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_quiet_hours")]  # marketing is sent

PHONE = "+919876500001"
WA_ID = "919876500001"


def _client(staff: Any, role: str) -> tuple[Any, Any]:
    from django.test import Client

    user = staff(role)
    return user, otp_force_login(Client(), user)


@pytest.fixture
def story(client: Any, django_capture_on_commit_callbacks: Any) -> dict[str, Any]:
    """A customer who opted in, got a marketing message (delivered, read), replied STOP and got
    the confirmation; then complained."""
    contact = customer(1)
    marketing_template()
    sale = message_accept(to=PHONE, template="festive_offer", language="en", variables=["Priya", "40%"]).message
    messages_send_claimed(messages_claim(ids=[sale.id]))
    sale.refresh_from_db()
    for status in ("delivered", "read"):
        post_webhook(client, statuses_payload([status_item(wamid_of(sale), status, recipient=WA_ID)]))
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(client, inbound_text(WA_ID, "STOP", wamid="wamid.story.stop"))
    complaint = new_complaint(phone=PHONE, channel="email", contact_details="priya@example.com")
    return {"contact": contact, "sale": sale, "complaint": complaint}


# --- The single customer page --------------------------------------------------------------


def test_inbound_messages_selector_finds_the_customer_s_own_messages(story):
    items = inbound_messages_for(story["contact"])
    assert [(i.kind, i.text, i.keyword, i.opt_out) for i in items] == [("message", "STOP", "STOP", True)]


def test_customer_page_shows_consent_messages_both_ways_and_complaints_and_the_look_is_audited(story, staff):
    user, client = _client(staff, "officer")
    response = client.get(reverse("admin:consent_contact_change", args=[story["contact"].pk]))
    html = response.content.decode()
    assert response.status_code == 200
    # the sale (rendered with its values), its statuses, the STOP, the opt-out and the reply
    assert "Hi Priya, our Diwali sale has 40% off" in html and "delivered" in html and "read" in html
    assert ">STOP<" in html and "Opted out of Marketing" in html
    reply = Message.objects.get(kind=MessageKind.CONFIRMATION)
    assert reverse("admin:messaging_message_change", args=[reply.pk]) in html
    assert story["complaint"].reference in html
    assert reverse("dashboard:evidence_pack", kwargs={"contact_id": story["contact"].public_id}) in html
    # the number stays masked; the look itself is in the audit trail
    assert PHONE not in html and "+91******0001" in html
    assert LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=user,
                                   additional_data__what="viewed the customer page (messages both ways)").exists()


def test_timeline_puts_the_stop_before_the_opt_out_it_caused(story, staff):
    from pandorakart_wa.backoffice.customer import customer_page

    sides = [(e.side, e.title) for e in customer_page(story["contact"])["timeline"]]
    stop = next(i for i, (side, _) in enumerate(sides) if side == "in")
    opt_out = next(i for i, (side, title) in enumerate(sides) if title == "Opted out of Marketing")
    assert stop < opt_out


def test_customer_page_is_reached_from_a_complaint_and_a_message(story, staff):
    _, client = _client(staff, "support")
    customer_url = reverse("admin:consent_contact_change", args=[story["contact"].pk])
    complaint_page = client.get(reverse("admin:complaints_complaint_change", args=[story["complaint"].pk]))
    message_page = client.get(reverse("admin:messaging_message_change", args=[story["sale"].pk]))
    assert customer_url in complaint_page.content.decode() and customer_url in message_page.content.decode()


@pytest.mark.parametrize(("target", "expect"), [
    ("customer", "/consent/contact/"), ("complaints", "/complaints/complaint/?digest="),
    ("messages", "/messaging/message/?digest="), ("evidence", "/compliance/evidence/c_"),
])
def test_find_by_number_leads_to_each_destination_without_the_number_in_the_url(story, staff, target, expect):
    _, client = _client(staff, "officer")
    response = client.post(reverse("admin:consent_contact_find"), {"phone": "98765 00001", "target": target})
    assert response.status_code == 302
    assert "9876500001" not in response.url and expect in response.url
    assert client.get(response.url).status_code == 200


def test_find_by_number_needs_the_destination_s_permission(story, staff):
    _, client = _client(staff, "marketing")
    assert client.post(reverse("admin:consent_contact_find"), {"phone": PHONE, "target": "customer"}).status_code == 403
    assert client.get(reverse("admin:consent_contact_change", args=[story["contact"].pk])).status_code == 403


def test_message_list_refuses_a_number_in_the_search_box(story, staff):
    _, client = _client(staff, "auditor")
    response = client.get(reverse("admin:messaging_message_changelist"), {"q": "9876500001"})
    assert response.context["cl"].result_count == 0 and "Find by number" in response.content.decode()
    by_digest = client.get(reverse("admin:messaging_message_changelist"), {"digest": story["contact"].phone_digest})
    assert by_digest.context["cl"].result_count == Message.objects.filter(contact=story["contact"]).count() > 0


# --- Complaints: the hand-off, the forms, the clocks, the reveal ---------------------------


def test_agent_hands_off_and_the_officer_sees_the_findings_and_resolves_with_a_chosen_outcome(staff):
    _agent, agent_client = _client(staff, "support")
    officer, officer_client = _client(staff, "officer")
    complaint = drive(new_complaint(), Status.INVESTIGATING)
    act = reverse("admin:complaints_complaint_act", args=[complaint.pk])
    # the agent hands it off with findings and a proposed outcome
    agent_client.post(act, {"action": "hand_off", "findings": "The STOP was applied 2 s after it arrived.",
                            "proposed_outcome": Outcome.CONSENT_VALID_NO_BREACH})
    complaint.refresh_from_db()
    assert complaint.status == Status.READY_FOR_OFFICER
    # it is in the officers' queue, on the index too
    queue = officer_client.get(reverse("admin:complaints_complaint_changelist"), {"queue": "ready"})
    assert [c.pk for c in queue.context["cl"].result_list] == [complaint.pk]
    index = officer_client.get(reverse("admin:index")).content.decode()
    assert "Complaints ready for an officer" in index and complaint.reference in index
    # the officer's page shows the findings and the proposal, and no outcome is preselected
    page = officer_client.get(reverse("admin:complaints_complaint_change", args=[complaint.pk])).content.decode()
    assert "The STOP was applied 2 s after it arrived." in page and "proposed at the hand-off" in page
    assert '<option value="" selected>— choose the outcome —</option>' in page
    # resolving without choosing is a clear refusal
    refused = officer_client.post(act, {"action": "resolve", "outcome": "", "resolution": "Fine."}, follow=True)
    assert "Choose the outcome." in refused.content.decode()
    complaint.refresh_from_db()
    assert complaint.status == Status.READY_FOR_OFFICER
    # with one chosen, it resolves, and the timeline says the outcome and what the customer was told
    officer_client.post(act, {"action": "resolve", "outcome": Outcome.CONSENT_VALID_NO_BREACH,
                              "resolution": "Your STOP was applied at once."})
    complaint.refresh_from_db()
    assert complaint.status == Status.RESOLVED and complaint.resolved_by == officer
    entry = complaint.actions.get(kind=ComplaintAction.Kind.STATUS, to_status=Status.RESOLVED)
    assert "Consent valid - no breach" in entry.note and "Your STOP was applied at once." in entry.note
    assert not entry.internal


def test_an_agent_cannot_resolve_even_after_the_hand_off(staff):
    _agent, agent_client = _client(staff, "support")
    complaint = drive(new_complaint(), Status.READY_FOR_OFFICER)
    response = agent_client.post(reverse("admin:complaints_complaint_act", args=[complaint.pk]),
                                 {"action": "resolve", "outcome": Outcome.RESOLVED_OTHER, "resolution": "ok"}, follow=True)
    assert "may not resolve" in response.content.decode()
    complaint.refresh_from_db()
    assert complaint.status == Status.READY_FOR_OFFICER


def test_hand_off_needs_findings_and_the_customer_is_told_investigating(staff):
    agent = staff("support")
    complaint = drive(new_complaint(), Status.INVESTIGATING)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        complaint_hand_off(complaint=complaint, findings=" ", actor=agent)
    complaint_hand_off(complaint=complaint, findings="Checked the ledger.", actor=agent)
    complaint.refresh_from_db()
    assert complaint.status == Status.READY_FOR_OFFICER
    assert public_document(complaint)["status"] == Status.INVESTIGATING


def test_assign_dropdown_shows_who_is_assigned(staff):
    agent = staff("support", username="agent-priya")
    _, officer_client = _client(staff, "officer")
    complaint = new_complaint()
    complaint_assign(complaint=complaint, assignee=agent, actor=agent)
    page = officer_client.get(reverse("admin:complaints_complaint_change", args=[complaint.pk])).content.decode()
    assert f'<option value="{agent.pk}" selected>agent-priya</option>' in page
    assert '<option value="" selected>' not in page.split('name="assignee"', 1)[1].split("</select>", 1)[0]


def test_the_clocks_say_what_stops_them_and_the_receipt_is_not_a_response(staff, django_capture_on_commit_callbacks):
    from tests.complaints.factories import ack_template

    ack_template()
    customer(1)
    with django_capture_on_commit_callbacks(execute=True):
        complaint = new_complaint(phone=PHONE)
    complaint.refresh_from_db()
    assert complaint.acknowledgement == Acknowledgement.SENT and complaint.status == Status.RECEIVED
    _, client = _client(staff, "support")
    page = client.get(reverse("admin:complaints_complaint_change", args=[complaint.pk])).content.decode()
    assert "Receipt sent on WhatsApp (automatic)" in page
    assert "The automatic WhatsApp receipt does not stop it." in page and "running:" in page


def test_an_anonymous_complaint_is_not_labelled_an_internal_investigation(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        complaint = new_complaint(channel="email")
    complaint.refresh_from_db()
    assert complaint.acknowledgement == Acknowledgement.ANONYMOUS
    assert complaint.get_acknowledgement_display() == "Not possible: anonymous, no contact details"


@pytest.mark.parametrize(("role", "allowed"), [("support", True), ("officer", True), ("auditor", False)])
def test_complaint_reveal_follows_the_one_reveal_rule(staff, role, allowed):
    complaint = new_complaint(channel="email", contact_details="priya@example.com")
    user, client = _client(staff, role)
    response = client.post(reverse("admin:complaints_complaint_reveal", args=[complaint.pk]))
    assert (response.status_code == 200) is allowed
    assert ("priya@example.com" in response.content.decode()) is allowed
    assert LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=user).exists() is allowed


def test_user_fields_do_not_link_to_pages_the_reader_cannot_open(staff):
    agent = staff("support")
    complaint = new_complaint()
    complaint_assign(complaint=complaint, assignee=agent, actor=agent)
    _, agent_client = _client(staff, "support")
    _, auditor_client = _client(staff, "auditor")
    user_page = reverse("admin:auth_user_change", args=[agent.pk])
    assert user_page not in agent_client.get(reverse("admin:complaints_complaint_change", args=[complaint.pk])).content.decode()
    assert user_page in auditor_client.get(reverse("admin:complaints_complaint_change", args=[complaint.pk])).content.decode()


# --- The audit trail as staff read it ------------------------------------------------------


def test_a_resolution_reads_with_names_not_ids_and_masked_fields_are_not_half_shown(staff):
    officer = staff("officer", username="officer-anita")
    complaint = drive(new_complaint(customer_name="Priya"), Status.INVESTIGATING)
    complaint_resolve(complaint=complaint, outcome=Outcome.RESOLVED_OTHER, resolution="Sorted.", actor=officer)
    entry = LogEntry.objects.get_for_object(Complaint.objects.get(pk=complaint.pk)).filter(
        action=LogEntry.Action.UPDATE).order_by("-timestamp").first()
    rows = {label: (before, after) for label, before, after in readable_changes(entry)}
    assert rows["Resolved by"] == ("—", "officer-anita")
    assert rows["Outcome"] == ("—", "Resolved otherwise (see the resolution)")
    text = json.dumps(rows)
    assert "None" not in text and "**ne" not in text


def test_a_reveal_in_an_object_s_trail_says_what_was_revealed(staff):
    user, client = _client(staff, "officer")
    complaint = new_complaint(channel="email", contact_details="priya@example.com")
    log_access(user=user, obj_or_label=complaint, what="revealed the contact details of a complaint")
    page = client.get(reverse("admin:complaints_complaint_auditlog", args=[complaint.pk])).content.decode()
    assert "Revealed the contact details of a complaint" in page and "No field changes" not in page
    assert "IST" in page


# --- Sign-in lockouts, API keys, legal notices --------------------------------------------


def _locked(username: str) -> AccessAttempt:
    return AccessAttempt.objects.create(username=username, ip_address="203.0.113.5", user_agent="test",
                                        failures_since_start=5, get_data="", post_data="", http_accept="",
                                        path_info="/admin/login/")


def test_an_officer_unlocks_a_sign_in_and_it_is_audited(staff):
    officer, client = _client(staff, "officer")
    attempt = _locked("agent-ravi")
    index = client.get(reverse("admin:index")).content.decode()
    assert "Sign-ins locked out" in index and "agent-ravi" in index
    client.post(reverse("admin:axes_accessattempt_changelist"), {"action": "unlock", "_selected_action": [attempt.pk]})
    assert not AccessAttempt.objects.filter(username="agent-ravi").exists()
    entry = LogEntry.objects.get(action=LogEntry.Action.DELETE, actor=officer)
    assert entry.additional_data["what"] == "lifted the sign-in lockout of agent-ravi"


def test_an_auditor_cannot_unlock(staff):
    _, client = _client(staff, "auditor")
    attempt = _locked("agent-ravi")
    page = client.get(reverse("admin:axes_accessattempt_changelist")).content.decode()
    assert 'value="unlock"' not in page
    client.post(reverse("admin:axes_accessattempt_changelist"), {"action": "unlock", "_selected_action": [attempt.pk]})
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()


def test_the_demo_api_key_has_its_primary_key_and_its_list_answers(staff):
    key = "demoPFX1.abcdefghijklmnopqrstuvwxyz012345"
    made = api_key_ensure(name="demo-storefront", key=key)
    assert made.pk == f"demoPFX1.{made.hashed_key}" and StorefrontApiKey.objects.is_valid(key)
    # an old row saved with an empty primary key is repaired in place
    StorefrontApiKey.objects.filter(pk=made.pk).update(id="")
    assert api_key_ensure(name="demo-storefront", key=key).pk == made.pk
    for role in ("officer", "auditor"):
        _, client = _client(staff, role)
        assert client.get(reverse("admin:core_storefrontapikey_changelist")).status_code == 200


def test_marketing_is_not_offered_the_legal_notice_audience_and_the_service_refuses_it(staff):
    marketer, client = _client(staff, "marketing")
    officer = staff("officer")
    template = utility_template()
    form = client.get(reverse("admin:messaging_campaign_add")).content.decode()
    assert 'value="any_consent"' not in form and 'value="opted_in"' in form
    with pytest.raises(CampaignError):
        campaign_create(name="notice", template=template, audience=Campaign.Audience.ANY_CONSENT,
                        variables=["a", "b", "c"], created_by=marketer)
    officer_form = otp_force_login(client.__class__(), officer).get(reverse("admin:messaging_campaign_add"))
    assert 'value="any_consent"' in officer_form.content.decode()
    assert campaign_create(name="notice", template=template, audience=Campaign.Audience.ANY_CONSENT,
                           variables=["a", "b", "c"], created_by=officer).pk


def test_a_bad_campaign_is_a_form_error_not_a_server_error(staff):
    _, client = _client(staff, "marketing")
    template = utility_template()
    response = client.post(reverse("admin:messaging_campaign_add"), {
        "name": "x", "template": template.pk, "audience": "csv", "variables_text": "one", "reason": ""})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "audience_file" in errors and "variables_text" in errors


# --- The index and the dashboard -----------------------------------------------------------


@pytest.mark.parametrize(("role", "panels"), [
    ("officer", {"Complaints ready for an officer", "Template revisions to review", "Sign-ins locked out",
                 "Complaints assigned to you", "Complaints needing someone"}),
    ("support", {"Complaints assigned to you", "Complaints needing someone"}),
    ("marketing", {"Your drafts and revisions sent back"}),
    ("auditor", set()),
])
def test_the_index_shows_each_role_its_work(staff, role, panels):
    _, client = _client(staff, role)
    response = client.get(reverse("admin:index"))
    titles = {p["title"] for p in response.context["worklist"]} - {"Open compliance alerts"}
    assert titles == panels
    assert ("Find a customer by number" in response.content.decode()) is (role != "marketing")


def test_verify_now_runs_the_ledger_check_for_officers_only(staff):
    customer(1)
    _officer, officer_client = _client(staff, "officer")
    dashboard = officer_client.get(reverse("dashboard:index")).content.decode()
    assert "Not verified yet" in dashboard and "verify-ledger-now" in dashboard
    officer_client.post(reverse("dashboard:verify_ledger"))
    assert LedgerVerification.objects.filter(ok=True).exists()
    assert "Intact" in officer_client.get(reverse("dashboard:index")).content.decode()
    _, auditor_client = _client(staff, "auditor")
    assert "verify-ledger-now" not in auditor_client.get(reverse("dashboard:index")).content.decode()
    assert auditor_client.post(reverse("dashboard:verify_ledger")).status_code == 403


def test_times_read_in_india_time_with_the_zone(staff):
    complaint = new_complaint()
    complaint_transition(complaint=complaint, to_status=Status.ACKNOWLEDGED, actor=staff("support"))
    action = complaint.actions.order_by("-id").first()
    assert str(action).endswith("IST")
