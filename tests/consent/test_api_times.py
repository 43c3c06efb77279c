"""API.md: times in responses are UTC. One format everywhere: ISO 8601 ending in `Z`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from messaging.models import Message, MessageEvent, MessageStatus
from tests.messaging.factories import make_usable_template
from tests.profile.factories import BusinessProfileFactory
from tests.webhooks.helpers import messages, post, text

pytestmark = pytest.mark.django_db

PHONE = "+919227021270"
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def times_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from times_in(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from times_in(item, f"{path}[{index}]")
    elif isinstance(value, str) and ISO_TIME.match(value):
        yield path, value


def test_every_time_in_every_response_is_utc_with_z(api_client, notices, client):
    # given a customer with consent (India time given), a message, an inbound WhatsApp message
    # and a complaint
    api_client.post("/api/v1/consents/opt-in", {
        "phone": PHONE, "purposes": ["order_updates"], "notice_version": "2026-11-01-en", "source": "checkout",
        "occurred_at": "2026-11-27T10:00:00+05:30"}, format="json")
    template = make_usable_template()
    from consent.models import Contact

    message = Message.objects.create(contact=Contact.objects.get(), purpose="order_updates", template=template,
                                     language="en", variables=["Ravi", "PK-1", "27 Nov"], status=MessageStatus.SENT)
    MessageEvent.objects.create(message=message, status=MessageStatus.SENT, at=message.created_at,
                                source=MessageEvent.Source.API)
    assert post(client, messages([text("919227021270", "Hello", wamid="wamid.TIME1")])).status_code == 200
    BusinessProfileFactory()
    complaint = api_client.post("/api/v1/complaints", {"phone": PHONE, "channel": "website", "category": "other",
                                                       "description": "A question"}, format="json").json()
    # when the storefront reads everything
    responses = {
        "state": api_client.get(f"/api/v1/consents/{PHONE}"),
        "lookup": api_client.post("/api/v1/consents/lookup", {"phone": PHONE}, format="json"),
        "export": api_client.post("/api/v1/privacy/export", {"phone": PHONE}, format="json"),
        "complaint": api_client.get(f"/api/v1/complaints/{complaint['reference']}"),
        "message": api_client.get(f"/api/v1/messages/{message.pk}"),
        "notice": api_client.get("/api/v1/notices/current"),
        "profile": api_client.get("/api/v1/profile"),
        "ping": api_client.get("/api/v1/ping"),
    }
    # then every time is UTC and written one way
    found = {}
    for name, response in responses.items():
        assert response.status_code == 200, (name, response.json())
        found.update({f"{name}{path}": value for path, value in times_in(response.json())})
    assert [k for k in found if k.startswith("export.messages")], found  # the exporters were covered
    assert [k for k in found if k.startswith("export.webhooks")], found
    assert {k: v for k, v in found.items() if not v.endswith("Z")} == {}
    assert found["state.history[0].occurred_at"] == "2026-11-27T04:30:00Z"
