"""The customer's complaints in the DPDP export, and what erasure removes from them."""

from __future__ import annotations

import pytest

from complaints.models import Complaint
from complaints.services.handling import complaint_add_note
from consent.seed import seed_notices
from consent.services.optin import consent_opt_in
from consent.types import Actor
from tests.complaints.factories import new_complaint, officer
from tests.messaging.sending_helpers import customer

pytestmark = pytest.mark.django_db


def test_the_export_holds_the_customer_s_complaints_without_staff_notes(api_client):
    contact = customer(1)
    complaint = new_complaint(phone=contact.phone, description="Offers after STOP")
    complaint_add_note(complaint=complaint, note="SECRET internal remark", actor=officer())
    response = api_client.get("/api/v1/privacy/export", {"phone": contact.phone})
    assert response.status_code == 200
    complaints = response.json()["complaints"]
    assert [c["reference"] for c in complaints] == [complaint.reference]
    assert complaints[0]["description"] == "Offers after STOP"
    assert "SECRET" not in response.content.decode()


def test_erasure_removes_the_name_reply_address_and_personal_evidence(api_client):
    # given a complaint with a name, a reply address and evidence holding the ledger's personal data
    notice = {n.language: n for n in seed_notices()}["en"]
    contact = consent_opt_in(phone="+919876500001", purposes=["marketing"], notice=notice, source="checkout",
                             actor=Actor.system("test"), evidence={"ip": "203.0.113.9"}).contact
    complaint = new_complaint(phone=contact.phone, customer_name="Ravi", contact_details="ravi@example.com")
    assert complaint.evidence["contact"]["phone"] == "+91******0001"
    assert complaint.evidence["consent_ledger"][0]["evidence"] == {"ip": "203.0.113.9"}
    # when the customer asks for erasure
    assert api_client.post("/api/v1/privacy/erasure", {"phone": contact.phone}, format="json").status_code == 202
    # then the complaint stays as a record, without their identifiers
    complaint = Complaint.objects.get(pk=complaint.pk)
    assert (complaint.customer_name, complaint.contact_details) == ("", "")
    assert complaint.evidence["contact"]["phone"] == "" and complaint.evidence["contact"]["erased"] is True
    assert all(e["evidence"] is None for e in complaint.evidence["consent_ledger"])
    assert any("erased at their request" in a.note for a in complaint.actions.all())  # notes are ciphertext
