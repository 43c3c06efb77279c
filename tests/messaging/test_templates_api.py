"""GET /api/v1/templates (API.md, Templates)."""

from __future__ import annotations

import pytest

from messaging.models import HoldReason
from pandorakart_wa.core.api.keys import api_key_create
from pandorakart_wa.core.models import ApiScope
from tests.messaging.factories import MessageTemplateFactory, TemplateRevisionFactory, make_usable_template

pytestmark = pytest.mark.django_db


def test_lists_templates_at_meta_with_their_usability(api_client):
    # given a usable template, a held one and a draft
    make_usable_template(name="order_shipped")
    held = make_usable_template(
        name="festive_offer", category="MARKETING", body="Hi {{1}}, the Diwali sale ends on {{2}}. See you there.",
        body_examples=["Ravi", "12 Nov"], buttons=[{"type": "QUICK_REPLY", "text": "Stop promotions"}],
    )
    held.hold_reason = HoldReason.QUALITY_RED
    held.quality = "RED"
    held.save()
    draft = MessageTemplateFactory(name="cart_reminder")
    draft.current_revision = TemplateRevisionFactory(template=draft)
    draft.save()
    # when the storefront asks
    response = api_client.get("/api/v1/templates")
    # then the two templates at Meta are listed, exactly in API.md's shape
    assert response.status_code == 200
    assert response.json() == [
        {"name": "festive_offer", "language": "en", "category": "MARKETING", "purpose": "marketing", "variables": 2,
         "body": "Hi {{1}}, the Diwali sale ends on {{2}}. See you there.", "usable": False, "status": "held",
         "quality": "RED"},
        {"name": "order_shipped", "language": "en", "category": "UTILITY", "purpose": "order_updates", "variables": 3,
         "body": "Hi {{1}}, your order {{2}} has shipped and should reach you by {{3}}. Track it in the app.",
         "usable": True, "status": "approved", "quality": "GREEN"},
    ]


def test_needs_the_templates_scope(anon_client):
    # given a key for consent only
    _, key = api_key_create(name="consent-only", scopes=[ApiScope.CONSENT])
    anon_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    # when / then
    response = anon_client.get("/api/v1/templates")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    _, key = api_key_create(name="templates", scopes=[ApiScope.TEMPLATES])
    anon_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert anon_client.get("/api/v1/templates").status_code == 200


def test_needs_a_key(anon_client):
    assert anon_client.get("/api/v1/templates").status_code == 401
