"""Staff screens: queues, the complaint page with clocks, timeline and role-gated actions that
call the services, staff intake, the audited evidence export, signals and intake words."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from complaints.models import Acknowledgement, Complaint, ComplaintSignal, IntakeTrigger, Status
from complaints.seed import intake_triggers_ensure
from complaints.services.handling import complaint_assign, complaint_escalate
from pandorakart_wa.core.roles import AUDITOR, COMPLIANCE_OFFICER, SUPPORT_AGENT
from tests.backoffice.helpers import make_staff
from tests.complaints.factories import drive, new_complaint
from tests.messaging.sending_helpers import customer

pytestmark = pytest.mark.django_db

LIST = "admin:complaints_complaint_changelist"


@pytest.fixture
def staff(otp_client: Any) -> Any:
    """staff(role) -> (user, a signed-in client with 2FA done)."""

    def make(role: str) -> tuple[Any, Any]:
        user = make_staff(role.lower().replace(" ", "-"), role)
        return user, otp_client(user)

    return make


def page(client: Any, complaint: Complaint) -> str:
    response = client.get(reverse("admin:complaints_complaint_change", args=[complaint.pk]))
    assert response.status_code == 200
    html: str = response.content.decode()
    return html


def act(client: Any, complaint: Complaint, **data: str) -> Any:
    return client.post(reverse("admin:complaints_complaint_act", args=[complaint.pk]), data, follow=True)


def test_queues_mine_unassigned_overdue_escalated(staff):
    # given complaints in each queue
    user, client = staff(SUPPORT_AGENT)
    mine = new_complaint()
    complaint_assign(complaint=mine, assignee=user, actor=user)
    unassigned = new_complaint()
    overdue = new_complaint(now=timezone.now() - dt.timedelta(days=2))
    escalated = new_complaint()
    complaint_escalate(complaint=escalated, reason="Possible breach", actor=make_staff("co", COMPLIANCE_OFFICER))

    def queue(name: str) -> set[str]:
        response = client.get(reverse(LIST), {"queue": name})
        return {c.reference for c in response.context["cl"].result_list}

    # then each queue lists its complaints
    assert queue("mine") == {mine.reference}
    assert queue("unassigned") == {unassigned.reference, overdue.reference, escalated.reference}
    assert queue("overdue") == {overdue.reference}
    assert queue("escalated") == {escalated.reference}
    listing = client.get(reverse(LIST)).content.decode()
    assert "overdue" in listing and "left" in listing


def test_search_by_reference_and_find_by_number_without_the_number_in_a_url(staff):
    contact = customer(1)
    complaint = new_complaint(phone=contact.phone)
    new_complaint()
    _, client = staff(AUDITOR)
    assert client.get(reverse(LIST), {"q": complaint.reference}).context["cl"].result_count == 1
    # a number typed in the GET search box is refused, with the way to search by number
    refused = client.get(reverse(LIST), {"q": "09876500001"})
    assert refused.context["cl"].result_count == 0 and "Find by number" in refused.content.decode()
    # "Find by number" POSTs it and lands on the list filtered by the number's digest
    found = client.post(reverse("admin:consent_contact_find"), {"phone": "09876500001", "target": "complaints"})
    assert found.status_code == 302 and "9876500001" not in found.url and f"digest={contact.phone_digest}" in found.url
    listing = client.get(found.url)
    assert [c.reference for c in listing.context["cl"].result_list] == [complaint.reference]
    # a malformed digest is a clear refusal, not a 500
    assert client.get(reverse(LIST), {"digest": "not-hex"}).status_code in (200, 302)


def test_the_page_shows_timeline_clocks_and_only_the_role_s_actions(staff):
    complaint = drive(new_complaint(), Status.INVESTIGATING)
    _, agent_client = staff(SUPPORT_AGENT)
    _, officer_client = staff(COMPLIANCE_OFFICER)
    _, auditor_client = staff(AUDITOR)
    agent_page, officer_page, auditor_page = (page(c, complaint) for c in (agent_client, officer_client,
                                                                               auditor_client))
    for html in (agent_page, officer_page, auditor_page):
        assert "timeline" in html.lower() and "Stopped by" in html and "Statutory limit" in html
    assert "Await customer" in agent_page and 'value="resolve"' not in agent_page
    assert 'value="hand_off"' in agent_page and 'value="hand_off"' not in officer_page
    assert 'value="resolve"' in officer_page and "Escalate" in officer_page
    assert "Download evidence" in officer_page and "Download evidence" not in agent_page
    assert "Download evidence" in auditor_page  # a read, audited like every export
    assert "Read only" in auditor_page and "Add note" not in auditor_page


def test_actions_run_through_the_services_and_respect_the_role(staff):
    complaint = new_complaint()
    _, agent_client = staff(SUPPORT_AGENT)
    # an agent acknowledges
    act(agent_client, complaint, action="step", to_status=Status.ACKNOWLEDGED)
    complaint.refresh_from_db()
    assert complaint.status == Status.ACKNOWLEDGED and complaint.first_responded_at is not None
    # but may not resolve (the service refuses even a hand-made POST)
    response = act(agent_client, complaint, action="resolve", outcome="consent_valid_no_breach", resolution="ok")
    assert "may not resolve" in response.content.decode()
    complaint.refresh_from_db()
    assert complaint.status == Status.ACKNOWLEDGED
    # an officer resolves and closes
    _, officer_client = staff(COMPLIANCE_OFFICER)
    act(officer_client, complaint, action="resolve", outcome="consent_valid_no_breach",
        resolution="You opted in at checkout.")
    act(officer_client, complaint, action="step", to_status=Status.CLOSED)
    complaint.refresh_from_db()
    assert complaint.status == Status.CLOSED
    assert list(complaint.actions.values_list("to_status", flat=True)) == ["received", "acknowledged", "resolved",
                                                                         "closed"]


def test_an_auditor_cannot_act_at_all(staff):
    complaint = new_complaint()
    _, client = staff(AUDITOR)
    act(client, complaint, action="note", note="sneaky")
    act(client, complaint, action="step", to_status=Status.ACKNOWLEDGED)
    complaint.refresh_from_db()
    assert complaint.status == Status.RECEIVED and not complaint.actions.filter(kind="note").exists()


def test_staff_record_an_email_complaint_and_see_the_acknowledgement_owed(staff, django_capture_on_commit_callbacks):
    _, client = staff(SUPPORT_AGENT)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:complaints_complaint_add"), {
            "channel": "email", "category": "privacy", "description": "Where did you get my number?",
            "contact_details": "ravi@example.com", "phone": "", "customer_name": "Ravi", "message_id": "",
        })
    complaint = Complaint.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:complaints_complaint_change", args=[complaint.pk])
    assert complaint.acknowledgement == Acknowledgement.OWED and complaint.acknowledgement_channel == "email"
    html = page(client, complaint)
    assert "r***@example.com" in html and "ravi@example.com" not in html
    # a bad number is named and nothing is written
    response = client.post(reverse("admin:complaints_complaint_add"), {
        "channel": "phone", "category": "other", "description": "x", "phone": "12345"})
    assert response.status_code == 200 and "phone" in response.context["form"].errors
    assert Complaint.objects.count() == 1
    # auditors cannot record complaints
    _, auditor_client = staff(AUDITOR)
    assert auditor_client.get(reverse("admin:complaints_complaint_add")).status_code == 403


def test_the_evidence_pack_downloads_for_officers_and_the_export_is_audited(staff):
    contact = customer(1)
    complaint = new_complaint(phone=contact.phone)
    user, client = staff(COMPLIANCE_OFFICER)
    response = client.get(reverse("admin:complaints_complaint_evidence", args=[complaint.pk]))
    assert response.status_code == 200
    assert f'{complaint.reference}-evidence.json' in response["Content-Disposition"]
    pack = json.loads(response.content)
    assert pack["complaint"]["reference"] == complaint.reference
    assert len(pack["evidence"]["consent_ledger"]) == 2
    assert pack["timeline"][0]["kind"] == "created"
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS, object_pk=str(complaint.pk))
    assert entry.actor == user and complaint.reference in entry.additional_data["what"]
    _, agent_client = staff(SUPPORT_AGENT)
    assert agent_client.get(reverse("admin:complaints_complaint_evidence", args=[complaint.pk])).status_code == 403
    _, auditor_client = staff(AUDITOR)
    assert auditor_client.get(reverse("admin:complaints_complaint_evidence", args=[complaint.pk])).status_code == 200


def test_signals_are_read_only_and_intake_words_editable_by_officers(staff):
    intake_triggers_ensure()
    _, auditor_client = staff(AUDITOR)
    assert auditor_client.get(reverse("admin:complaints_complaintsignal_changelist")).status_code == 200
    assert auditor_client.get(reverse("admin:complaints_complaintsignal_add")).status_code == 403
    _, officer_client = staff(COMPLIANCE_OFFICER)
    response = officer_client.post(reverse("admin:complaints_intaketrigger_add"),
                                   {"phrase": "  Harassment ", "kind": "complaint", "active": "on"})
    assert response.status_code == 302
    assert IntakeTrigger.objects.get(normalized="harassment").kind == "complaint"
    clash = officer_client.post(reverse("admin:complaints_intaketrigger_add"),
                                {"phrase": "SPAM", "kind": "complaint", "active": "on"})
    assert clash.status_code == 200 and "already on the list" in clash.content.decode()
    assert not ComplaintSignal.objects.exists()
