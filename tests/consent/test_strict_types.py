"""JSON types are taken at their word: a number where a string is due is a 400 naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from complaints.models import Complaint
from consent.models import Contact

pytestmark = pytest.mark.django_db

OPT_IN = {"phone": "+919227021270", "purposes": ["marketing"], "notice_version": "2026-11-01-en",
          "source": "checkout"}
COMPLAINT = {"phone": "+919227021270", "channel": "website", "category": "other", "description": "Too many offers"}


def fields_of(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "invalid"
    fields: dict[str, list[str]] = body["fields"]
    return fields


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        ("/api/v1/consents/opt-in", {**OPT_IN, "phone": 9227021270}, "phone", "Must be a string, not a number."),
        ("/api/v1/consents/opt-in", {**OPT_IN, "notice_version": 20261101}, "notice_version",
         "Must be a string, not a number."),
        ("/api/v1/consents/opt-in", {**OPT_IN, "source": True}, "source", "Must be a string, not a boolean."),
        ("/api/v1/consents/opt-in", {**OPT_IN, "occurred_at": 1764576000}, "occurred_at",
         "Must be a string, not a number."),
        ("/api/v1/consents/opt-in", {**OPT_IN, "purposes": ["marketing", 2]}, "purposes",
         "Each purpose is a string; item 2 is a number."),
        ("/api/v1/consents/opt-in", {**OPT_IN, "purposes": "marketing"}, "purposes",
         'Expected a list of items but got type "str".'),
        ("/api/v1/consents/opt-in", {**OPT_IN, "evidence": "checkbox"}, "evidence",
         'Expected a dictionary of items but got type "str".'),
        ("/api/v1/consents/opt-out", {"phone": 9227021270}, "phone", "Must be a string, not a number."),
        ("/api/v1/consents/opt-out", {"phone": "+919227021270", "reason": 42}, "reason",
         "Must be a string, not a number."),
        ("/api/v1/consents/lookup", {"phone": 919227021270}, "phone", "Must be a string, not a number."),
        ("/api/v1/privacy/erasure", {"phone": [919227021270]}, "phone", "Must be a string, not a list."),
        ("/api/v1/privacy/export", {"phone": {"e164": "+919227021270"}}, "phone", "Must be a string, not an object."),
        ("/api/v1/complaints", {**COMPLAINT, "description": 12}, "description", "Must be a string, not a number."),
        ("/api/v1/complaints", {**COMPLAINT, "phone": 9227021270}, "phone", "Must be a string, not a number."),
        ("/api/v1/complaints", {**COMPLAINT, "channel": 1}, "channel", "Must be a string, not a number."),
        ("/api/v1/complaints", {**COMPLAINT, "message_id": 12}, "message_id", "Must be a string, not a number."),
        ("/api/v1/complaints", {**COMPLAINT, "name": False}, "name", "Must be a string, not a boolean."),
    ],
)
def test_a_wrong_json_type_is_a_400_naming_the_field(api_client, notices, path, body, field, message):
    # when
    response = api_client.post(path, body, format="json")
    # then the field is named with what came, and nothing was written
    assert fields_of(response) == {field: [message]}
    assert field in response.json()["detail"]
    assert not Complaint.objects.exists()
    if path != "/api/v1/consents/opt-out":
        assert not Contact.objects.exists()


def test_every_wrong_type_is_named_at_once(api_client):
    response = api_client.post("/api/v1/complaints", {**COMPLAINT, "description": 12, "phone": 9227021270},
                               format="json")
    assert set(fields_of(response)) == {"description", "phone"}


def test_strings_are_still_accepted_in_every_format(api_client, notices):
    assert api_client.post("/api/v1/consents/opt-in", {**OPT_IN, "phone": "09227021270"}, format="json").status_code == 201
    response = api_client.post("/api/v1/complaints", {**COMPLAINT, "phone": None, "message_id": None}, format="json")
    assert response.status_code == 201, response.json()
