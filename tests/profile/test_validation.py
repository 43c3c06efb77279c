from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from profile.models import BusinessProfile
from profile.services.business_profile import profile_update
from tests.profile.factories import BusinessProfileFactory

pytestmark = pytest.mark.django_db

URL = "https://www.pandorakart.com/"


@pytest.mark.parametrize(
    ("changes", "field", "limit"),
    [
        ({"about": ""}, "about", "139"),
        ({"about": "   "}, "about", "139"),
        ({"about": "a" * 140}, "about", "139"),
        ({"description": "d" * 257}, "description", "256"),
        ({"address": "a" * 257}, "address", "256"),
        ({"email": "x" * 120 + "@ex.com" + "m" * 2}, "email", "128"),
        ({"email": "not-an-email"}, "email", "128"),
        ({"websites": [URL, URL + "a", URL + "b"]}, "websites", "2"),
        ({"websites": [URL + "p" * (257 - len(URL))]}, "websites", "256"),
        ({"websites": ["www.pandorakart.com"]}, "websites", "http"),
        ({"websites": ["ftp://pandorakart.com"]}, "websites", "https://"),
        ({"vertical": "SHOPPING"}, "vertical", "21"),
        ({"support_email": "support at pandorakart"}, "support_email", "128"),
        ({"support_website": "pandorakart.com"}, "support_website", "http"),
        ({"support_phone": "12"}, "support_phone", "phone"),
        ({"name": ""}, "name", "100"),
    ],
)
def test_each_limit_is_refused_naming_field_and_limit(changes: dict[str, Any], field: str, limit: str) -> None:
    # given a valid profile
    profile = BusinessProfileFactory()
    # when a change breaks one of Meta's limits
    with pytest.raises(ValidationError) as caught:
        profile_update(changes=changes, actor=None)
    # then the error is keyed by the field, names it and the limit, and nothing was saved
    messages = caught.value.message_dict
    assert list(messages) == [field]
    assert all(field in message and limit in message for message in messages[field]), messages
    profile.refresh_from_db()
    assert profile.revision == 1
    assert profile.about == BusinessProfileFactory.about


@pytest.mark.parametrize(
    "changes",
    [
        {"about": "a" * 139},
        {"about": "x"},
        {"description": "d" * 256},
        {"description": ""},
        {"address": "a" * 256},
        {"email": "e" * 116 + "@example.com"},
        {"websites": ["http://a.example", "https://" + "b" * 240 + ".example"]},
        {"websites": []},
        {"vertical": ""},
        {"vertical": "ALCOHOL"},
        {"vertical": "ONLINE_GAMBLING"},
        {"vertical": "PHYSICAL_GAMBLING"},
        {"vertical": "OTC_DRUGS"},
    ],
)
def test_values_at_the_limits_are_accepted_and_bump_the_revision(changes: dict[str, Any]) -> None:
    # given a valid profile
    BusinessProfileFactory()
    # when a change sits exactly at a limit
    profile = profile_update(changes=changes, actor=None)
    # then it is saved and the revision moves on so the next sync pushes it
    assert profile.revision == 2
    stored = BusinessProfile.objects.get()
    for field, value in changes.items():
        assert getattr(stored, field) == value


def test_an_unchanged_value_does_not_bump_the_revision() -> None:
    # given
    profile = BusinessProfileFactory()
    # when the same values are saved again
    profile_update(changes={"about": profile.about, "websites": list(profile.websites)}, actor=None)
    # then
    assert BusinessProfile.objects.get().revision == 1


def test_several_bad_fields_are_all_named_at_once() -> None:
    # given
    BusinessProfileFactory()
    # when
    with pytest.raises(ValidationError) as caught:
        profile_update(changes={"about": "", "description": "d" * 300, "vertical": "NOPE"}, actor=None)
    # then
    assert set(caught.value.message_dict) == {"about", "description", "vertical"}
