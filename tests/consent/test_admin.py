"""Staff screens: masked numbers, audited reveal, actions through services, read-only ledger."""

from __future__ import annotations

from typing import Any

import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from consent.models import ConsentEvent, ConsentNotice, Contact, OptOutKeyword
from consent.selectors import consent_decision_for_phone
from consent.services.optin import consent_opt_in
from pandorakart_wa.core.roles import AUDITOR, COMPLIANCE_OFFICER, MARKETING, SUPPORT_AGENT
from tests.backoffice.helpers import make_staff
from tests.consent.factories import NoticeFactory

pytestmark = pytest.mark.django_db

PHONE = "+919227021270"


@pytest.fixture
def contact(notices: Any, actor: Any) -> Contact:
    return consent_opt_in(phone=PHONE, purposes=["marketing", "order_updates"], notice=notices["en"],
                          source="checkout", actor=actor, evidence={"ip": "203.0.113.9"}).contact


@pytest.fixture
def as_role(otp_client: Any) -> Any:
    return lambda role: otp_client(make_staff(role.lower().replace(" ", "-"), role))


@pytest.mark.parametrize("role", [SUPPORT_AGENT, AUDITOR])
def test_contact_list_and_page_show_masked_numbers_only(as_role, contact, role):
    # given a support agent or an auditor
    client = as_role(role)
    # when they open the list and the contact
    listing = client.get(reverse("admin:consent_contact_changelist"))
    page = client.get(reverse("admin:consent_contact_change", args=[contact.pk]))
    # then the number is masked everywhere and the timeline is shown; the reveal is a button
    # for the roles holding consent.reveal_phone only (agents do, auditors do not)
    for response in (listing, page):
        assert response.status_code == 200
        assert "+91******1270" in response.content.decode()
        assert "9227021270" not in response.content.decode()
    assert "timeline" in page.content.decode().lower()
    assert ("Reveal number" in page.content.decode()) is (role == SUPPORT_AGENT)


def test_find_by_full_number_in_any_format_is_posted(as_role, contact):
    # given a support agent on the contacts list
    client = as_role(SUPPORT_AGENT)
    find = reverse("admin:consent_contact_find")
    # when they find the customer by a national-format number
    found = client.post(find, {"phone": "09227021270", "target": "customer"})
    # then they land on the customer's page, and no URL on the way holds the number
    assert found.status_code == 302 and found.url == reverse("admin:consent_contact_change", args=[contact.pk])
    # an unknown number answers with a message, back where they came from, without echoing it
    back = reverse("admin:consent_contact_changelist")
    missing = client.post(find, {"phone": "09227021271", "target": "customer", "next": back}, follow=True)
    assert missing.redirect_chain[-1][0] == back
    assert "No customer with this number" in missing.content.decode() and "9227021271" not in missing.content.decode()
    # a bad number is a clear error
    bad = client.post(find, {"phone": "12ab", "target": "customer", "next": back}, follow=True)
    assert "not a valid phone number" in bad.content.decode()


def test_a_number_in_the_search_box_is_refused_not_searched(as_role, contact):
    client = as_role(SUPPORT_AGENT)
    response = client.get(reverse("admin:consent_contact_changelist"), {"q": "09227021270"})
    assert response.context["cl"].result_count == 0
    assert "Numbers are not searched from the address bar" in response.content.decode()
    by_id = client.get(reverse("admin:consent_contact_changelist"), {"q": contact.public_id})
    assert by_id.context["cl"].result_count == 1


def test_filter_by_purpose_and_status(as_role, contact):
    client = as_role(AUDITOR)
    url = reverse("admin:consent_contact_changelist")
    assert client.get(url, {"consent": "marketing:opted_in"}).context["cl"].result_count == 1
    assert client.get(url, {"consent": "marketing:opted_out"}).context["cl"].result_count == 0
    assert client.get(url, {"consent": "support:none"}).context["cl"].result_count == 1


def test_compliance_officer_reveals_a_number_and_it_is_audited(as_role, contact):
    # given
    client = as_role(COMPLIANCE_OFFICER)
    page = client.get(reverse("admin:consent_contact_change", args=[contact.pk]))
    assert "Reveal number" in page.content.decode()
    # when
    response = client.post(reverse("admin:consent_contact_reveal", args=[contact.pk]),
                           HTTP_X_CORRELATION_ID="reveal-test-1")
    # then the number is shown and the reveal is in the audit trail with actor and correlation id
    assert response.status_code == 200
    assert PHONE in response.content.decode()
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS, object_pk=str(contact.pk),
                                 additional_data__what="revealed full phone number")
    assert entry.actor is not None and entry.actor.username == "compliance-officer"
    assert entry.cid == "reveal-test-1"
    assert PHONE not in str(entry.additional_data) and PHONE not in entry.object_repr


def test_support_agent_reveals_by_the_same_rule_and_it_is_audited(as_role, contact):
    # Support agents answer complaints on the customer's own channel: they hold consent.reveal_phone
    response = as_role(SUPPORT_AGENT).post(reverse("admin:consent_contact_reveal", args=[contact.pk]))
    assert response.status_code == 200 and PHONE in response.content.decode()
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS, additional_data__what="revealed full phone number")
    assert entry.actor is not None and entry.actor.username == "support-agent"


@pytest.mark.parametrize("role", [AUDITOR, MARKETING])
def test_other_roles_cannot_reveal(as_role, contact, role):
    response = as_role(role).post(reverse("admin:consent_contact_reveal", args=[contact.pk]))
    assert response.status_code == 403
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()


def test_reveal_is_post_only(as_role, contact):
    response = as_role(COMPLIANCE_OFFICER).get(reverse("admin:consent_contact_reveal", args=[contact.pk]))
    assert response.status_code == 405


def test_support_agent_opts_a_contact_out_through_the_service(as_role, contact):
    # given
    client = as_role(SUPPORT_AGENT)
    url = reverse("admin:consent_contact_changelist")
    # when they pick the action, then confirm with a reason and a purpose
    step = client.post(url, {"action": "opt_out_action", "_selected_action": [contact.pk]})
    assert step.status_code == 200 and "Reason" in step.content.decode()
    done = client.post(url, {"action": "opt_out_action", "_selected_action": [contact.pk], "apply": "1",
                             "reason": "asked on the phone", "purposes": ["marketing"]})
    # then a ledger event by that staff user, with the reason as evidence
    assert done.status_code == 302
    event = ConsentEvent.objects.get(action="opt_out")
    assert (event.purpose, event.source, event.actor_type, event.actor_label) == (
        "marketing", "support_agent", "staff", "support-agent")
    assert event.evidence.data == {"reason": "asked on the phone"}
    assert consent_decision_for_phone(PHONE, "marketing").reason == "opted_out"
    assert consent_decision_for_phone(PHONE, "order_updates").allowed


def test_opt_out_needs_a_reason(as_role, contact):
    client = as_role(SUPPORT_AGENT)
    response = client.post(reverse("admin:consent_contact_changelist"),
                           {"action": "opt_out_action", "_selected_action": [contact.pk], "apply": "1", "reason": ""})
    assert response.status_code == 200
    assert not ConsentEvent.objects.filter(action="opt_out").exists()


def test_marketing_cannot_opt_out_or_block(as_role, contact):
    client = as_role(MARKETING)
    client.post(reverse("admin:consent_contact_changelist"), {"action": "block_action", "apply": "1",
                                                              "_selected_action": [contact.pk], "reason": "x"})
    contact.refresh_from_db()
    assert not contact.blocked


def test_compliance_officer_blocks_with_a_reason(as_role, contact):
    client = as_role(COMPLIANCE_OFFICER)
    client.post(reverse("admin:consent_contact_changelist"), {"action": "block_action", "apply": "1",
                                                              "_selected_action": [contact.pk], "reason": "abuse"})
    assert consent_decision_for_phone(PHONE, "order_updates").reason == "contact_blocked"


def test_ledger_events_are_read_only_even_for_superusers(admin_client, contact):
    event = ConsentEvent.objects.first()
    assert event is not None
    assert admin_client.get(reverse("admin:consent_consentevent_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:consent_consentevent_add")).status_code == 403
    assert admin_client.get(reverse("admin:consent_consentevent_delete", args=[event.pk])).status_code == 403
    page = admin_client.get(reverse("admin:consent_consentevent_change", args=[event.pk]))
    assert page.status_code == 200 and "203.0.113.9" in page.content.decode()
    admin_client.post(reverse("admin:consent_consentevent_change", args=[event.pk]), {"action": "opt_out"})
    event.refresh_from_db()
    assert event.action == "opt_in"


def test_notice_authoring_and_publishing(as_role):
    # given a compliance officer writes a draft
    client = as_role(COMPLIANCE_OFFICER)
    response = client.post(reverse("admin:consent_consentnotice_add"), {
        "version": "2027-01-01-en", "language": "en", "title": "Messages", "text": "We would like to...",
        "items": '[{"data": "Mobile number", "purposes": ["marketing"]}]', "purposes": '["marketing"]',
        "withdrawal_instructions": "Reply STOP", "complaint_instructions": "Us, then the Data Protection Board",
        "business_name": "PANDORAKART", "business_contact": "support@pandorakart.com",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    notice = ConsentNotice.objects.get(version="2027-01-01-en")
    assert not notice.is_published
    # when they publish it
    client.post(reverse("admin:consent_consentnotice_changelist"),
                {"action": "publish_action", "_selected_action": [notice.pk]})
    # then it is frozen: the change page is read-only and a POST changes nothing
    notice.refresh_from_db()
    assert notice.is_published and notice.text_sha256
    page = client.get(reverse("admin:consent_consentnotice_change", args=[notice.pk]))
    assert page.status_code == 200 and 'name="text"' not in page.content.decode()
    assert client.post(reverse("admin:consent_consentnotice_change", args=[notice.pk]),
                       {"text": "changed"}).status_code == 403
    notice.refresh_from_db()
    assert notice.text == "We would like to..."


def test_published_notice_cannot_be_deleted(admin_client):
    notice = NoticeFactory()
    assert admin_client.get(reverse("admin:consent_consentnotice_delete", args=[notice.pk])).status_code == 403


def test_keyword_editing(as_role):
    client = as_role(COMPLIANCE_OFFICER)
    url = reverse("admin:consent_optoutkeyword_add")
    ok = client.post(url, {"phrase": "Band karo", "action": "opt_out", "scope": "marketing", "language": "hi",
                           "reply_text": "", "active": "on"})
    assert ok.status_code == 302
    assert OptOutKeyword.objects.get(phrase="Band karo").normalized == "band karo"
    clash = client.post(url, {"phrase": " stop ", "action": "opt_out", "scope": "marketing", "language": "en"})
    assert clash.status_code == 200 and "Matches the existing keyword" in clash.content.decode()


def test_role_grants(db):
    from django.contrib.auth.models import Group

    def perms(role: str) -> set[str]:
        return set(Group.objects.get(name=role).permissions.filter(content_type__app_label="consent")
                   .values_list("codename", flat=True))

    assert {"reveal_phone", "opt_out_contact", "view_consentevent", "change_consentnotice"} <= perms(COMPLIANCE_OFFICER)
    assert {"opt_out_contact", "reveal_phone"} <= perms(SUPPORT_AGENT)
    assert all(p.startswith("view_") for p in perms(AUDITOR))
    assert perms(MARKETING) == {"view_consentnotice"}  # no individual customers
    assert not any(p in perms(COMPLIANCE_OFFICER) for p in ("change_consentevent", "delete_consentevent"))
