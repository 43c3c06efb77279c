"""The admin screens: through the services, with the role permissions of the data migration."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from profile.models import BusinessProfile, ComplianceAlert, PolicyVersion, ProfileDrift, ProfileSyncRun
from profile.services.alerts import alert_raise
from profile.services.business_profile import profile_sync
from profile.services.publishing import policy_publish
from profile.validation import META_FIELDS
from tests.profile.factories import (
    BusinessProfileFactory,
    PolicyDraftFactory,
    RegulatoryChangeFactory,
    StaffUserFactory,
)

pytestmark = pytest.mark.django_db

PROFILE_URL = "/admin/business_profile/businessprofile/"


def signed_in(role: str) -> tuple[Client, Any]:
    """A client signed in to the admin as a staff user of `role`, second factor verified."""
    user = StaffUserFactory(role=role)
    device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client, user


def form_data(profile: BusinessProfile, **changes: str) -> dict[str, str]:
    websites = [*profile.websites, "", ""]
    data = {
        "name": profile.name, "about": profile.about, "description": profile.description,
        "address": profile.address, "email": profile.email, "website_1": websites[0], "website_2": websites[1],
        "vertical": profile.vertical, "phone": profile.phone, "support_email": profile.support_email,
        "support_phone": profile.support_phone, "support_website": profile.support_website,
    }
    data.update(changes)
    return data


def test_the_list_goes_straight_to_the_one_profile() -> None:
    client, _ = signed_in("Compliance officer")
    profile = BusinessProfileFactory()
    response = client.get(PROFILE_URL)
    assert response.status_code == 302
    assert response["Location"] == f"{PROFILE_URL}{profile.pk}/change/"


def test_an_invalid_edit_names_the_field_and_limit_and_saves_nothing() -> None:
    # given
    client, _ = signed_in("Compliance officer")
    profile = BusinessProfileFactory()
    # when
    response = client.post(f"{PROFILE_URL}{profile.pk}/change/", form_data(profile, about="a" * 150))
    # then
    assert response.status_code == 200
    assert "about must be at most 139 characters; it has 150." in response.content.decode()
    assert BusinessProfile.objects.get().revision == 1


def test_admin_api_and_meta_agree_after_a_sync(fake_meta: Any, meta_profile: dict[str, Any], api_client: Any) -> None:
    # given a Compliance officer edits the profile in the admin
    client, officer = signed_in("Compliance officer")
    profile = BusinessProfileFactory()
    response = client.post(
        f"{PROFILE_URL}{profile.pk}/change/",
        form_data(profile, about="Edited in the admin", website_2="https://help.pandorakart.com"),
    )
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.revision == 2 and profile.updated_by == officer
    # when the sync runs (from the admin's button)
    response = client.post(f"{PROFILE_URL}{profile.pk}/sync/")
    assert response.status_code == 302
    # then the admin, Meta and the API show the same values
    api = api_client.get("/api/v1/profile").json()
    admin_page = client.get(f"{PROFILE_URL}{profile.pk}/change/").content.decode()
    assert meta_profile["about"] == api["about"] == "Edited in the admin"
    assert meta_profile["websites"] == api["websites"] == ["https://www.pandorakart.com", "https://help.pandorakart.com"]
    assert {f: meta_profile[f] for f in META_FIELDS} == {f: api[f] for f in META_FIELDS}
    assert "Edited in the admin" in admin_page
    assert ProfileSyncRun.objects.get().trigger == ProfileSyncRun.Trigger.ADMIN


@pytest.mark.parametrize(("action", "expected_about"), [("keep_ours", "ours"), ("accept_theirs", "theirs")])
def test_drift_resolution_from_the_admin_is_audited(
    fake_meta: Any, meta_profile: dict[str, Any], action: str, expected_about: str
) -> None:
    # given an open drift of about
    profile = BusinessProfileFactory()
    profile_sync(trigger="beat")
    meta_profile["about"] = "Theirs"
    profile_sync(trigger="beat")
    drift = ProfileDrift.objects.get()
    client, officer = signed_in("Compliance officer")
    # when the officer resolves it
    response = client.post("/admin/business_profile/profiledrift/",
                           {"action": action, "_selected_action": [drift.pk]})
    # then
    assert response.status_code == 302
    drift.refresh_from_db()
    assert drift.resolved_by == officer
    value = profile.about if expected_about == "ours" else "Theirs"
    assert meta_profile["about"] == BusinessProfile.objects.get().about == value
    assert LogEntry.objects.get_for_object(drift).filter(actor=officer).exists()


def test_marketing_reads_the_profile_and_policy_but_cannot_change_them() -> None:
    # given
    client, _ = signed_in("Marketing")
    profile = BusinessProfileFactory()
    version = policy_publish(version_id=PolicyDraftFactory().pk, actor=None)
    # when / then
    assert client.get(f"{PROFILE_URL}{profile.pk}/change/").status_code == 200
    assert client.post(f"{PROFILE_URL}{profile.pk}/change/", form_data(profile, about="x")).status_code == 403
    assert client.get(f"/admin/business_profile/policyversion/{version.pk}/change/").status_code == 200
    assert client.get("/admin/business_profile/profilesyncrun/").status_code == 403
    assert client.post(f"{PROFILE_URL}{profile.pk}/sync/").status_code == 302
    assert not ProfileSyncRun.objects.exists()
    assert BusinessProfile.objects.get().about == profile.about


def test_auditor_sees_everything_and_changes_nothing() -> None:
    # given
    client, _ = signed_in("Auditor")
    profile = BusinessProfileFactory()
    alert = alert_raise(kind="test", title="Look", dedupe_key="k", subject=profile)
    objects = {
        "businessprofile": profile,
        "profilesyncrun": ProfileSyncRun.objects.create(trigger="beat", result="drift", drift_fields=["about"]),
        "profiledrift": ProfileDrift.objects.create(field="about", ours="a", theirs="b", last_pushed="a"),
        "policyversion": policy_publish(version_id=PolicyDraftFactory().pk, actor=None),
        "regulatorychange": RegulatoryChangeFactory(),
        "compliancealert": alert,
    }
    # when / then every list and every record opens, read-only
    for model, obj in objects.items():
        assert client.get(f"/admin/business_profile/{model}/", follow=True).status_code == 200, model
        page = client.get(f"/admin/business_profile/{model}/{obj.pk}/change/")
        assert page.status_code == 200, model
        assert 'type="submit" value="Save"' not in page.content.decode(), model
    client.post("/admin/business_profile/compliancealert/", {"action": "acknowledge", "_selected_action": [alert.pk]})
    assert ComplianceAlert.objects.get().acknowledged_at is None


def test_published_policy_is_read_only_and_drafts_publish_from_the_admin() -> None:
    # given a published version and a draft
    client, officer = signed_in("Compliance officer")
    published = policy_publish(version_id=PolicyDraftFactory().pk, actor=None)
    draft = PolicyDraftFactory(body="New text\n\n1. Intro")
    # then the published one has no editable body
    page = client.get(f"/admin/business_profile/policyversion/{published.pk}/change/").content.decode()
    assert 'name="body"' not in page
    assert 'name="body"' in client.get(f"/admin/business_profile/policyversion/{draft.pk}/change/").content.decode()
    # when the draft is published with the action
    client.post("/admin/business_profile/policyversion/", {"action": "publish", "_selected_action": [draft.pk]})
    draft.refresh_from_db()
    assert (draft.status, draft.number, draft.published_by) == (PolicyVersion.Status.PUBLISHED, 2, officer)
    # and a published version cannot be deleted
    assert client.post(f"/admin/business_profile/policyversion/{published.pk}/delete/", {"post": "yes"}).status_code == 403


def test_register_highlights_overdue_entries_and_alerts_are_acknowledged() -> None:
    # given
    client, officer = signed_in("Compliance officer")
    RegulatoryChangeFactory(title="Overdue one", review_due=date.today() - timedelta(days=1))
    alert = alert_raise(kind="test", title="Look at this", dedupe_key="k")
    # when / then
    page = client.get("/admin/business_profile/regulatorychange/").content.decode()
    assert "(overdue)" in page
    overdue_only = client.get("/admin/business_profile/regulatorychange/?overdue=yes").content.decode()
    assert "Overdue one" in overdue_only
    client.post("/admin/business_profile/compliancealert/", {"action": "acknowledge", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.acknowledged_by == officer
