"""Staff screens for sending, per role: masked messages, campaigns, the stop-all switch."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from messaging.gate import sending_policy
from messaging.models import Campaign, Message
from messaging.outbox import message_accept
from pandorakart_wa.core.roles import AUDITOR, COMPLIANCE_OFFICER, MARKETING, SUPPORT_AGENT
from tests.backoffice.helpers import make_staff
from tests.messaging.sending_helpers import customer, utility_template

pytestmark = pytest.mark.django_db

SHIPPED: dict[str, Any] = {"template": "order_shipped", "language": "en", "variables": ["Ravi", "PK-10023", "27 Nov"]}


@pytest.fixture
def message(outbox):
    utility_template()
    customer(1)
    return message_accept(to="+919876500001", **SHIPPED).message


def test_marketing_sees_no_single_message(otp_client, message):
    # Marketing works on campaigns and their counts, not on one customer's messages
    client = otp_client(make_staff("u-marketing", MARKETING))
    assert client.get("/admin/messaging/message/").status_code == 403
    assert client.get(f"/admin/messaging/message/{message.pk}/change/").status_code == 403


@pytest.mark.parametrize("role", [COMPLIANCE_OFFICER, SUPPORT_AGENT, AUDITOR])
def test_every_role_that_handles_customers_sees_messages_with_masked_numbers(otp_client, message, role):
    client = otp_client(make_staff(f"u-{role[:5]}", role))
    listing = client.get("/admin/messaging/message/")
    page = client.get(f"/admin/messaging/message/{message.pk}/change/")
    assert listing.status_code == page.status_code == 200
    assert b"+91******0001" in listing.content
    assert b"9876500001" not in listing.content.replace(b"******0001", b"")
    assert b"+919876500001" not in page.content


def test_nobody_edits_or_deletes_a_message(otp_client, message):
    client = otp_client(make_staff("officer", COMPLIANCE_OFFICER))
    response = client.post(f"/admin/messaging/message/{message.pk}/change/", {"status": "read"})
    assert response.status_code == 403
    assert client.post(f"/admin/messaging/message/{message.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Message.objects.get(pk=message.pk).status == message.status


def test_marketing_creates_a_csv_campaign_in_the_admin(otp_client, outbox):
    template = utility_template()
    customer(1)
    client = otp_client(make_staff("marketer", MARKETING))
    csv = SimpleUploadedFile("audience.csv", b"phone\n+919876500001\n", content_type="text/csv")
    response = client.post("/admin/messaging/campaign/add/", {
        "name": "Delivery delay", "template": template.pk, "audience": "csv", "audience_file": csv,
        "variables_text": "there\nPK-1\n28 Nov", "reason": "monsoon delays",
    })
    assert response.status_code == 302, response.content[:2000]
    campaign = Campaign.objects.get()
    assert campaign.variables == ["there", "PK-1", "28 Nov"]
    assert campaign.status == Campaign.Status.DRAFT


def test_stop_all_is_for_compliance_officers(otp_client):
    sending_policy()
    agent = otp_client(make_staff("agent", SUPPORT_AGENT))
    agent.post("/admin/messaging/sendingpolicy/", {"action": "stop_all", "_selected_action": ["1"]})
    assert sending_policy().stop_all is False
    officer = otp_client(make_staff("officer", COMPLIANCE_OFFICER))
    response = officer.post("/admin/messaging/sendingpolicy/", {"action": "stop_all", "_selected_action": ["1"]})
    assert response.status_code == 302
    assert sending_policy().stop_all is True
    officer.post("/admin/messaging/sendingpolicy/", {"action": "restart", "_selected_action": ["1"]})
    assert sending_policy().stop_all is False


def test_officer_edits_the_frequency_cap_through_the_service(otp_client):
    sending_policy()
    officer = otp_client(make_staff("officer", COMPLIANCE_OFFICER))
    response = officer.post("/admin/messaging/sendingpolicy/1/change/", {
        "marketing_cap_count": "3", "marketing_cap_days": "7", "quiet_hours_start": "21:00",
        "quiet_hours_end": "09:00", "quiet_hours_timezone": "Asia/Kolkata",
    })
    assert response.status_code == 302
    assert sending_policy().marketing_cap_count == 3
