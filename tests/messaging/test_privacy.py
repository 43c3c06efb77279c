"""Messaging's share of a customer's export and erasure (DPDP rights)."""

from __future__ import annotations

from typing import Any

import pytest

from messaging.models import Message, MessageStatus
from messaging.outbox import message_accept
from tests.messaging.sending_helpers import customer, utility_template

pytestmark = pytest.mark.django_db

SHIPPED: dict[str, Any] = {"template": "order_shipped", "language": "en", "variables": ["Ravi", "PK-10023", "27 Nov"]}


def test_export_lists_the_customers_messages(api):
    utility_template()
    customer(1)
    api.post("/api/v1/messages", data={"to": "+919876500001", **SHIPPED}, format="json")
    body = api.get("/api/v1/privacy/export", {"phone": "+919876500001"}).json()
    assert [m["template"] for m in body["messages"]] == ["order_shipped"]
    assert body["messages"][0]["variables"] == ["Ravi", "PK-10023", "27 Nov"]
    assert [e["status"] for e in body["messages"][0]["events"]] == ["queued", "sending", "sent"]


def test_erasure_cancels_pending_messages_and_removes_their_content(api):
    utility_template()
    customer(1)
    sent = api.post("/api/v1/messages", data={"to": "+919876500001", **SHIPPED}, format="json").json()
    pending = message_accept(to="+919876500001", **SHIPPED).message  # accepted, not yet sent
    assert api.post("/api/v1/privacy/erasure", data={"phone": "+919876500001"}, format="json").status_code == 202
    pending.refresh_from_db()
    assert pending.status == MessageStatus.CANCELLED
    assert set(Message.objects.values_list("text", flat=True)) == {""}
    assert list(Message.objects.filter(pk=sent["id"]).values_list("variables", flat=True)) == [[]]
    assert Message.objects.get(pk=sent["id"]).status == MessageStatus.SENT  # evidence of the send stays
