"""POST /api/v1/complaints and GET /api/v1/complaints/{reference} (API.md, Complaints), and the
acknowledgement each new complaint gets (sent on WhatsApp, or owed on its channel)."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from complaints.models import Acknowledgement, Complaint, ComplaintAction
from complaints.services.handling import complaint_add_note
from complaints.services.workflow import complaint_resolve
from messaging.models import Message
from pandorakart_wa.core.api.keys import api_key_create
from pandorakart_wa.core.models import ApiScope
from tests.complaints.factories import ack_template, officer
from tests.messaging.sending_helpers import customer

pytestmark = pytest.mark.django_db

URL = "/api/v1/complaints"
BODY = {"phone": "+919876500001", "channel": "website", "category": "unwanted_messages",
        "description": "I keep getting offers after replying STOP", "message_id": None}
UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


@pytest.fixture
def post(api_client, django_capture_on_commit_callbacks):
    """POST as the storefront; the request's on-commit work (the acknowledgement) runs after it."""

    def call(body):
        with django_capture_on_commit_callbacks(execute=True):
            return api_client.post(URL, body, format="json")

    return call


def test_a_complaint_is_recorded_and_numbered(post):
    customer(1)
    response = post(BODY)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"reference", "status", "acknowledge_by", "resolve_by"}
    assert re.fullmatch(r"CMP-\d{4}-\d{6}", body["reference"])
    assert body["status"] == "received"
    assert UTC_TIME.match(body["acknowledge_by"]) and UTC_TIME.match(body["resolve_by"])
    complaint = Complaint.objects.get(reference=body["reference"])
    assert complaint.contact is not None and complaint.contact.phone == "+919876500001"
    assert complaint.evidence["contact"]["contact"] == complaint.contact.public_id


def test_an_anonymous_complaint_is_accepted(post):
    response = post({**BODY, "phone": None})
    assert response.status_code == 201
    complaint = Complaint.objects.get(reference=response.json()["reference"])
    assert complaint.contact is None and complaint.phone_digest == ""
    assert complaint.acknowledgement == Acknowledgement.ANONYMOUS  # the reference shown is the only receipt


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"channel", "category", "description"}),
        ({**BODY, "channel": "fax"}, {"channel"}),
        ({**BODY, "category": "rude"}, {"category"}),
        ({**BODY, "description": ""}, {"description"}),
        ({**BODY, "description": "x" * 5001}, {"description"}),
        ({**BODY, "phone": "12345"}, {"phone"}),
        ({**BODY, "message_id": "not-a-uuid"}, {"message_id"}),
        ({**BODY, "message_id": "0b7c0c53-8e53-4d6c-9d3b-1a6a2f4e9a10"}, {"message_id"}),
        ({**BODY, "phone": "12345", "channel": "fax", "message_id": "0b7c0c53-8e53-4d6c-9d3b-1a6a2f4e9a10"},
         {"phone", "channel", "message_id"}),
    ],
)
def test_bad_input_is_a_400_naming_each_field_and_nothing_is_written(post, body, fields):
    response = post(body)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid"
    assert set(error["fields"]) == fields
    assert not Complaint.objects.exists()


def test_a_description_of_exactly_5000_characters_is_accepted(post):
    assert post({**BODY, "phone": None, "description": "x" * 5000}).status_code == 201


def test_the_message_complained_about_links_the_customer_and_template(post):
    contact = customer(1)
    ack_template()
    accepted = Message.objects.create(contact=contact, purpose="marketing", text="Big sale!")
    response = post({**BODY, "phone": None, "message_id": str(accepted.pk)})
    assert response.status_code == 201
    complaint = Complaint.objects.get(reference=response.json()["reference"])
    assert complaint.message == accepted and complaint.contact == contact


def test_get_shows_status_clocks_and_resolution_but_no_staff_notes(api_client, post):
    reference = post({**BODY, "phone": None}).json()["reference"]
    complaint = Complaint.objects.get(reference=reference)
    complaint_add_note(complaint=complaint, note="SECRET internal remark", actor=officer())
    response = api_client.get(f"{URL}/{reference}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"reference", "status", "category", "channel", "created_at", "acknowledge_by",
                         "resolve_by", "resolution"}
    assert body["resolution"] is None
    assert "SECRET" not in response.content.decode()
    complaint_resolve(complaint=complaint, outcome="consent_valid_no_breach",
                      resolution="You opted in at checkout on 2 Nov.", actor=officer())
    body = api_client.get(f"{URL}/{reference}").json()
    assert body["status"] == "resolved"
    assert body["resolution"]["outcome"] == "consent_valid_no_breach"
    assert body["resolution"]["summary"] == "You opted in at checkout on 2 Nov."
    assert "SECRET" not in api_client.get(f"{URL}/{reference}").content.decode()


def test_unknown_reference_is_404(api_client):
    response = api_client.get(f"{URL}/CMP-2026-999999")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_complaints_scope_is_required(db):
    _, key = api_key_create(name="consent-only", scopes=[ApiScope.CONSENT])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert client.post(URL, BODY, format="json").status_code == 403
    assert client.get(f"{URL}/CMP-2026-000001").json()["code"] == "permission_denied"
    assert APIClient().post(URL, BODY, format="json").status_code == 401


# --- acknowledgement ----------------------------------------------------------------------


def test_the_acknowledgement_template_goes_out_when_consent_allows(post, outbox):
    # given a customer with order-update consent and the acknowledgement template usable
    customer(1, purposes=("order_updates",))
    ack_template()
    # when they complain on the website with their name
    reference = post({**BODY, "name": "Ravi"}).json()["reference"]
    # then the utility template is sent with their name, the reference and the due date
    complaint = Complaint.objects.get(reference=reference)
    assert complaint.acknowledgement == Acknowledgement.SENT
    sent = complaint.acknowledgement_message
    assert sent is not None and sent.template is not None
    assert sent.template.name == "complaint_acknowledgement"
    assert sent.variables[:2] == ["Ravi", reference]
    assert outbox[-1]["name"] == "complaint_acknowledgement" and outbox[-1]["body_parameters"][1] == reference
    assert complaint.actions.filter(kind=ComplaintAction.Kind.ACKNOWLEDGEMENT, internal=False).exists()


def test_the_acknowledgement_is_owed_when_the_customer_cannot_receive_it(post, outbox):
    # given a customer who consented to marketing only (no order updates), outside any service window
    customer(1, purposes=("marketing",))
    ack_template()
    # when they complain by email through the storefront
    reference = post({**BODY, "channel": "email"}).json()["reference"]
    # then nothing is sent and staff see that an acknowledgement is owed by email
    complaint = Complaint.objects.get(reference=reference)
    assert complaint.acknowledgement == Acknowledgement.OWED
    assert complaint.acknowledgement_channel == "email"
    assert "consent_missing" in complaint.acknowledgement_detail
    assert "outside the 24-hour service window" in complaint.acknowledgement_detail
    assert outbox == []


def test_the_complaint_is_kept_when_the_acknowledgement_attempt_fails(post, monkeypatch):
    # given a sending path that blows up
    customer(1)

    def broken(**kwargs):
        raise RuntimeError("broker on fire")

    monkeypatch.setattr("complaints.services.intake.message_accept", broken)
    # when a complaint arrives
    response = post(BODY)
    # then it was committed and answered 201, and the acknowledgement is owed
    assert response.status_code == 201
    complaint = Complaint.objects.get(reference=response.json()["reference"])
    assert complaint.acknowledgement == Acknowledgement.OWED
    assert "broker on fire" in complaint.acknowledgement_detail
