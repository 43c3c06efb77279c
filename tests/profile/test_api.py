from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from pandorakart_wa.core.api.keys import api_key_create
from pandorakart_wa.core.models import ApiScope
from profile.models import ProfileSyncRun
from profile.services.business_profile import profile_sync, profile_update
from profile.validation import META_FIELDS
from tests.profile.factories import BusinessProfileFactory

pytestmark = pytest.mark.django_db

API_KEYS = {"name", "about", "description", "address", "email", "websites", "vertical", "phone", "support",
            "updated_at"}


def test_profile_has_exactly_the_api_md_shape(api_client: APIClient) -> None:
    # given
    profile = BusinessProfileFactory()
    # when
    response = api_client.get("/api/v1/profile")
    # then
    assert response.status_code == 200
    body = response.json()
    assert set(body) == API_KEYS
    assert body["support"] == {"email": profile.support_email, "phone": profile.support_phone,
                               "website": profile.support_website}
    assert body["websites"] == ["https://www.pandorakart.com"]
    assert body["vertical"] == "RETAIL"
    assert body["updated_at"].startswith(str(profile.updated_at.year))


def test_api_shows_exactly_what_was_pushed_to_meta(
    api_client: APIClient, fake_meta: Any, meta_profile: dict[str, Any]
) -> None:
    # given a profile edited and synced
    BusinessProfileFactory()
    profile_update(changes={"about": "Pushed about", "websites": ["https://a.example", "https://b.example"]},
                   actor=None)
    assert profile_sync(trigger=ProfileSyncRun.Trigger.BEAT).result == ProfileSyncRun.Result.OK
    # when
    body = api_client.get("/api/v1/profile").json()
    # then the storefront shows what WhatsApp shows
    assert {f: body[f] for f in META_FIELDS} == {f: meta_profile[f] for f in META_FIELDS}


def test_profile_needs_the_profile_scope(db: Any) -> None:
    # given a key limited to consent
    BusinessProfileFactory()
    _, key = api_key_create(name="consent-only", scopes=[ApiScope.CONSENT])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    # when / then
    assert client.get("/api/v1/profile").status_code == 403
    _, profile_key = api_key_create(name="profile-only", scopes=[ApiScope.PROFILE])
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {profile_key}")
    assert client.get("/api/v1/profile").status_code == 200


def test_profile_without_a_key_is_refused(anon_client: APIClient) -> None:
    BusinessProfileFactory()
    assert anon_client.get("/api/v1/profile").status_code == 401


def test_profile_before_it_is_configured_is_404(api_client: APIClient) -> None:
    response = api_client.get("/api/v1/profile")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
