"""The messaging API's errors say what was wrong: neither a template nor a text, how many
variables came, and which purpose the customer has not consented to."""

from __future__ import annotations

import pytest

from messaging.wording import variable_count_error
from tests.messaging.sending_helpers import customer, marketing_template, opt_out, utility_template

pytestmark = pytest.mark.django_db


def post(api, body):
    return api.post("/api/v1/messages", data=body, format="json")


def test_neither_a_template_nor_a_text_says_so(api):
    response = post(api, {"to": "+919876500001"})
    assert response.status_code == 400
    assert response.json()["fields"] == {"template": ["Give a template (with its variables) or a text."]}


def test_both_a_template_and_a_text_says_not_both(api):
    response = post(api, {"to": "+919876500001", "template": "order_shipped", "text": "hi"})
    assert response.json()["fields"]["template"] == ["Give either a template (with variables) or a text, not both."]


def test_the_variable_count_is_told_in_plain_words(api):
    customer(1)
    utility_template()
    response = post(api, {"to": "+919876500001", "template": "order_shipped", "variables": ["only one"]})
    assert response.json()["fields"] == {"variables": ["The template needs 3 variables; 1 was given."]}
    assert variable_count_error(1, 2) == "The template needs 1 variable; 2 were given."
    assert variable_count_error(2, 0) == "The template needs 2 variables; 0 were given."


def test_consent_refusals_name_the_purpose_they_checked(api):
    customer(1, purposes=["order_updates"])
    marketing_template()
    utility_template()
    response = post(api, {"to": "+919876500001", "template": "festive_offer", "variables": ["Priya", "40%"]})
    assert (response.status_code, response.json()["code"]) == (422, "consent_missing")
    assert "marketing (marketing)" in response.json()["detail"]
    unknown = post(api, {"to": "+919876599999", "template": "order_shipped", "variables": ["a", "b", "c"]})
    assert "order updates (order_updates)" in unknown.json()["detail"]
    opt_out(customer(2), ["order_updates"])
    refused = post(api, {"to": "+919876500002", "template": "order_shipped", "variables": ["a", "b", "c"]})
    assert refused.json()["code"] == "opted_out"
    assert refused.json()["detail"].startswith("The customer opted out of messages for order updates (order_updates)")
