"""Meta errors and timeouts are retried by the Celery task with backoff; runs never overlap."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection

from pandorakart_wa.whatsapp import get_backend
from profile.locks import lease
from profile.models import BusinessProfile, ComplianceAlert, ProfileSyncRun
from profile.services.business_profile import meta_values, profile_sync
from profile.services.common import SYNC_LOCK
from profile.tasks import SYNC_MAX_RETRIES, profile_sync_task, sync_backoff
from profile.validation import META_FIELDS
from tests.profile.factories import BusinessProfileFactory

Result = ProfileSyncRun.Result


@pytest.mark.django_db
def test_transient_errors_are_retried_until_the_push_succeeds(
    fake_meta: Any, meta_profile: dict[str, Any], eager_retries: None
) -> None:
    # given Meta answers "service temporarily unavailable" twice
    profile = BusinessProfileFactory()
    fake_meta.inject("error", endpoint="profile", method="GET", code=2, count=2)
    # when beat's task runs (eagerly in the tests: retries run at once)
    profile_sync_task.delay()
    # then two failed attempts, each recorded as retryable, then a successful push
    runs = list(ProfileSyncRun.objects.order_by("id").values_list("attempt", "result", "retryable"))
    assert runs == [(1, Result.ERROR, True), (2, Result.ERROR, True), (3, Result.OK, False)]
    assert {f: meta_profile.get(f) for f in META_FIELDS} == meta_values(profile)
    assert not ComplianceAlert.objects.exists()


@pytest.mark.django_db
def test_timeouts_are_retried(fake_meta: Any, meta_profile: dict[str, Any], settings: Any, eager_retries: None) -> None:
    # given Meta does not answer the first profile read within the read timeout
    settings.WHATSAPP_READ_TIMEOUT = 0.3
    profile = BusinessProfileFactory()
    fake_meta.inject("latency", endpoint="profile", method="GET", latency_ms=1500, count=1)
    # when
    profile_sync_task.delay()
    # then the timeout was recorded and the retry pushed the profile
    runs = list(ProfileSyncRun.objects.order_by("id"))
    assert [(r.result, r.retryable) for r in runs] == [(Result.ERROR, True), (Result.OK, False)]
    assert "TransientError" in runs[0].error
    assert meta_profile["about"] == profile.about


@pytest.mark.django_db
def test_retries_stop_and_alert_when_meta_stays_down(
    fake_meta: Any, meta_profile: dict[str, Any], eager_retries: None
) -> None:
    # given Meta keeps dropping the connection
    BusinessProfileFactory()
    fake_meta.inject("drop", endpoint="profile", count=None)
    # when
    profile_sync_task.delay()
    # then 1 + SYNC_MAX_RETRIES attempts, then an alert; nothing counted as pushed
    assert ProfileSyncRun.objects.filter(result=Result.ERROR).count() == SYNC_MAX_RETRIES + 1
    assert ComplianceAlert.objects.get(kind="profile_sync_error").count == 1
    assert BusinessProfile.objects.get().pushed_values is None


@pytest.mark.django_db
def test_permanent_errors_are_not_retried(fake_meta: Any, meta_profile: dict[str, Any], eager_retries: None) -> None:
    # given Meta refuses the token (190: permanent)
    BusinessProfileFactory()
    fake_meta.inject("error", endpoint="profile", code=190, count=None)
    # when
    profile_sync_task.delay()
    # then exactly one attempt
    assert list(ProfileSyncRun.objects.values_list("result", "retryable")) == [(Result.ERROR, False)]


def test_backoff_grows_and_respects_retry_after() -> None:
    # given / when
    delays = [sync_backoff(n, None) for n in range(SYNC_MAX_RETRIES)]
    # then each wait roughly doubles, the chain ends before the next beat run, retry_after wins
    assert all(later > earlier for earlier, later in itertools.pairwise(delays))
    assert sum(sync_backoff(n, None) for n in range(SYNC_MAX_RETRIES)) < django_settings.PROFILE_SYNC_INTERVAL_MINUTES * 60
    assert sync_backoff(0, 120.0) == 120.0


def test_beat_entry_expires_before_the_next_run_is_due() -> None:
    # given the beat schedule
    entry = django_settings.CELERY_BEAT_SCHEDULE["profile-sync"]
    # then a run that waited a whole interval in the queue is dropped instead of piling up
    assert entry["task"] == "profile.tasks.profile_sync_task"
    options, schedule = entry["options"], entry["schedule"]
    assert isinstance(options, dict) and isinstance(schedule, timedelta)
    assert options["expires"] < schedule.total_seconds()


@pytest.mark.django_db
def test_a_run_that_finds_the_lock_taken_is_skipped_at_once(locmem_profile: None) -> None:
    # given another holder has the lock
    BusinessProfileFactory()
    from datetime import timedelta

    with lease(name=SYNC_LOCK, ttl=timedelta(minutes=5)) as held:
        assert held
        # when
        run = profile_sync(trigger=ProfileSyncRun.Trigger.BEAT)
    # then it did nothing and says so
    assert run.result == Result.SKIPPED
    assert run.finished_at is not None
    assert BusinessProfile.objects.get().pushed_values is None
    # and once the lock is free a run proceeds
    assert profile_sync(trigger=ProfileSyncRun.Trigger.BEAT).result == Result.OK


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_syncs_never_overlap(fake_meta: Any, meta_profile: dict[str, Any]) -> None:
    # given a slow Meta: the first run's read takes a while
    BusinessProfileFactory()
    get_backend()  # one backend instance for both threads
    fake_meta.inject("latency", endpoint="profile", method="GET", latency_ms=1500, count=1)
    results: dict[str, Any] = {}

    def first() -> None:
        try:
            results["first"] = profile_sync(trigger=ProfileSyncRun.Trigger.BEAT).result
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 10
    while not ProfileSyncRun.objects.filter(result=Result.RUNNING).exists():
        assert time.monotonic() < deadline, "the first run never started"
        time.sleep(0.02)
    # when a second run starts while the first is waiting for Meta
    second = profile_sync(trigger=ProfileSyncRun.Trigger.COMMAND)
    thread.join(timeout=20)
    # then the second was skipped without calling Meta, and the first completed alone
    assert second.result == Result.SKIPPED
    assert results["first"] == Result.OK
    profile_requests = [r for r in fake_meta.received if r["endpoint"] == "profile"]
    assert [r["method"] for r in profile_requests] == ["GET", "POST"]
