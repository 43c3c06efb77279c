"""The profile sync against the fake Meta Graph API over real HTTP (the `cloud` backend)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from profile.models import BusinessProfile, ComplianceAlert, ProfileDrift, ProfileSyncRun
from profile.services.business_profile import (
    meta_values,
    profile_drift_accept_theirs,
    profile_drift_keep_ours,
    profile_sync,
    profile_update,
)
from profile.validation import META_FIELDS
from tests.profile.factories import BusinessProfileFactory, StaffUserFactory

pytestmark = pytest.mark.django_db

Result = ProfileSyncRun.Result
BEAT = ProfileSyncRun.Trigger.BEAT


def profile_posts(fake_meta: Any) -> list[dict[str, Any]]:
    return [r for r in fake_meta.received if r.get("endpoint") == "profile" and r.get("method") == "POST"]


def test_first_sync_pushes_every_field(fake_meta: Any, meta_profile: dict[str, Any]) -> None:
    # given a local profile that was never pushed, and an empty profile on Meta
    profile = BusinessProfileFactory()
    # when
    run = profile_sync(trigger=BEAT)
    # then every Meta field is pushed and Meta holds exactly our values
    assert run.result == Result.OK
    assert run.fields_pushed == sorted(META_FIELDS)
    assert {f: meta_profile.get(f) for f in META_FIELDS} == meta_values(profile)
    profile.refresh_from_db()
    assert profile.pushed_values == meta_values(profile)
    assert profile.pushed_revision == profile.revision
    assert fake_meta.violations == []


def test_second_sync_without_changes_is_a_noop(fake_meta: Any, meta_profile: dict[str, Any]) -> None:
    # given a profile already pushed
    BusinessProfileFactory()
    profile_sync(trigger=BEAT)
    posts_before = len(profile_posts(fake_meta))
    assert posts_before == 1
    # when
    run = profile_sync(trigger=BEAT)
    # then Meta was read but nothing was written
    assert run.result == Result.NOOP
    assert run.fields_pushed == []
    assert len(profile_posts(fake_meta)) == posts_before


def test_a_local_change_pushes_only_the_changed_field(fake_meta: Any, meta_profile: dict[str, Any]) -> None:
    # given a pushed profile, then edited locally
    BusinessProfileFactory()
    profile_sync(trigger=BEAT)
    profile_update(changes={"about": "New about text"}, actor=None)
    # when
    run = profile_sync(trigger=BEAT)
    # then
    assert run.result == Result.OK
    assert run.fields_pushed == ["about"]
    assert meta_profile["about"] == "New about text"
    last_post = profile_posts(fake_meta)[-1]["json"]
    assert last_post == {"about": "New about text", "messaging_product": "whatsapp"}


def test_drift_is_recorded_and_never_overwritten(fake_meta: Any, meta_profile: dict[str, Any]) -> None:
    # given a pushed profile; then someone edits `about` in WhatsApp Manager while we edit the description
    profile = BusinessProfileFactory()
    profile_sync(trigger=BEAT)
    pushed_about = profile.about
    meta_profile["about"] = "Edited in WhatsApp Manager"
    profile_update(changes={"description": "Our new description."}, actor=None)
    # when
    run = profile_sync(trigger=BEAT)
    # then the drift is recorded, Meta's about is left alone, our other change is pushed
    assert run.result == Result.DRIFT
    assert run.drift_fields == ["about"]
    assert run.fields_pushed == ["description"]
    assert meta_profile["about"] == "Edited in WhatsApp Manager"
    assert meta_profile["description"] == "Our new description."
    drift = ProfileDrift.objects.get()
    assert (drift.field, drift.ours, drift.theirs, drift.last_pushed) == (
        "about", pushed_about, "Edited in WhatsApp Manager", pushed_about)
    assert drift.resolved_at is None
    assert ComplianceAlert.objects.filter(kind="profile_drift", dedupe_key="profile-drift:about").count() == 1

    # when we change `about` locally too and sync again
    profile_update(changes={"about": "Our newer about"}, actor=None)
    again = profile_sync(trigger=BEAT)
    # then still drift, still one open record (updated), and Meta's value still not overwritten
    assert again.result == Result.DRIFT
    assert again.fields_pushed == []
    assert meta_profile["about"] == "Edited in WhatsApp Manager"
    assert ProfileDrift.objects.filter(resolved_at__isnull=True).count() == 1
    assert ProfileDrift.objects.get().ours == "Our newer about"
    assert ComplianceAlert.objects.get(dedupe_key="profile-drift:about").count == 1


def test_keep_ours_pushes_our_value_and_records_who(fake_meta: Any, meta_profile: dict[str, Any]) -> None:
    # given an open drift of `about`
    profile = BusinessProfileFactory()
    profile_sync(trigger=BEAT)
    meta_profile["about"] = "Edited elsewhere"
    profile_sync(trigger=BEAT)
    drift = ProfileDrift.objects.get()
    officer = StaffUserFactory(role="Compliance officer")
    # when a Compliance officer keeps ours
    resolved = profile_drift_keep_ours(drift_id=drift.pk, actor=officer)
    # then our value is back on Meta, the resolution names the officer, and the next sync is a no-op
    assert meta_profile["about"] == profile.about
    assert resolved.resolution == ProfileDrift.Resolution.KEEP_OURS
    assert resolved.resolved_by == officer
    assert ProfileSyncRun.objects.filter(trigger=ProfileSyncRun.Trigger.RESOLUTION, result=Result.OK).exists()
    assert profile_sync(trigger=BEAT).result == Result.NOOP


def test_accept_theirs_updates_the_local_profile(fake_meta: Any, meta_profile: dict[str, Any]) -> None:
    # given an open drift of `email`
    BusinessProfileFactory()
    profile_sync(trigger=BEAT)
    meta_profile["email"] = "care@pandorakart.com"
    profile_sync(trigger=BEAT)
    drift = ProfileDrift.objects.get()
    officer = StaffUserFactory(role="Compliance officer")
    # when the officer accepts Meta's value
    resolved = profile_drift_accept_theirs(drift_id=drift.pk, actor=officer)
    # then it is ours now (a new revision), nothing was pushed, and the next sync is a no-op
    profile = BusinessProfile.objects.get()
    assert profile.email == "care@pandorakart.com"
    assert profile.revision == 2
    assert resolved.resolution == ProfileDrift.Resolution.ACCEPT_THEIRS
    assert resolved.resolved_by == officer
    assert profile_sync(trigger=BEAT).result == Result.NOOP
    assert meta_profile["email"] == "care@pandorakart.com"


def test_accepting_a_value_that_breaks_our_limits_is_refused(fake_meta: Any, meta_profile: dict[str, Any]) -> None:
    # given Meta accepted a 300-character description (its page says 512) edited elsewhere
    BusinessProfileFactory()
    profile_sync(trigger=BEAT)
    meta_profile["description"] = "d" * 300
    profile_sync(trigger=BEAT)
    drift = ProfileDrift.objects.get()
    # when / then accepting it fails on our stricter 256 limit and the drift stays open
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="256"):
        profile_drift_accept_theirs(drift_id=drift.pk, actor=None)
    drift.refresh_from_db()
    assert drift.resolved_at is None
    assert BusinessProfile.objects.get().description != "d" * 300


def test_drift_that_meta_undoes_closes_itself(fake_meta: Any, meta_profile: dict[str, Any]) -> None:
    # given an open drift
    profile = BusinessProfileFactory()
    profile_sync(trigger=BEAT)
    meta_profile["address"] = "Somewhere else"
    profile_sync(trigger=BEAT)
    # when Meta holds our pushed value again
    meta_profile["address"] = profile.address
    run = profile_sync(trigger=BEAT)
    # then
    assert run.result == Result.NOOP
    assert ProfileDrift.objects.get().resolution == ProfileDrift.Resolution.CONVERGED


def test_permanent_meta_error_is_recorded_and_alerted(fake_meta: Any, meta_profile: dict[str, Any]) -> None:
    # given Meta refuses the update (invalid parameter: permanent)
    BusinessProfileFactory()
    fake_meta.inject("error", endpoint="profile", method="POST", code=100)
    # when
    from pandorakart_wa.whatsapp.errors import PermanentError

    with pytest.raises(PermanentError):
        profile_sync(trigger=BEAT)
    # then
    run = ProfileSyncRun.objects.get()
    assert run.result == Result.ERROR
    assert not run.retryable
    assert "100" in run.error
    assert ComplianceAlert.objects.filter(kind="profile_sync_error").exists()
    assert BusinessProfile.objects.get().pushed_values is None  # nothing counted as pushed


def test_command_prints_the_result_and_exits_non_zero_on_error(
    fake_meta: Any, meta_profile: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # given
    BusinessProfileFactory()
    # when
    call_command("sync_business_profile")
    # then
    out = capsys.readouterr().out
    assert "ok" in out and "about" in out
    assert ProfileSyncRun.objects.get().trigger == ProfileSyncRun.Trigger.COMMAND

    # given Meta is down
    fake_meta.inject("error", endpoint="profile", code=2, count=None)
    # when / then
    with pytest.raises(CommandError) as caught:
        call_command("sync_business_profile")
    assert caught.value.returncode == 1
