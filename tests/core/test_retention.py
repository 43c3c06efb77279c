"""Retention (DESIGN.md "Audit"): raw webhook bodies redacted after RETENTION_WEBHOOK_DAYS with
their parsed items kept, operational rows pruned, audit and access logs never before 365 days;
`manage.py apply_retention [--dry-run]` and the nightly beat task."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from auditlog.models import LogEntry
from axes.models import AccessLog
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Model
from django.utils import timezone

from consent.models import LedgerVerification
from pandorakart_wa.checks import retention_check
from pandorakart_wa.tasks import apply_retention_task
from pandorakart_wa.webhooks.models import WebhookEvent, WebhookItem
from profile.models import ComplianceAlert, ProfileSyncRun
from tests.messaging.sending_helpers import customer, inbound_text, post_webhook

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("apply_retention", *args, stdout=out)
    return out.getvalue()


def _age(model: type[Model], pk: int, field: str, days: float) -> None:
    model._default_manager.filter(pk=pk).update(**{field: timezone.now() - dt.timedelta(days=days)})


@pytest.fixture
def webhooks(client):
    """Two inbound messages from a customer: one received 40 days ago, one today."""
    customer(1)
    for n in (1, 2):
        assert post_webhook(client, inbound_text("919876500001", f"Hello {n}", wamid=f"wamid.in.{n}")).status_code == 200
    old, new = WebhookEvent.objects.order_by("pk")
    _age(WebhookEvent, old.pk, "received_at", 40)
    return old, new


def test_dry_run_says_what_it_would_redact_and_changes_nothing(webhooks):
    # when
    output = _run("--dry-run")
    # then it names each kind of row and its count, and every body is still there
    assert "Dry run: nothing changed." in output
    assert "raw webhook bodies: would redact 1 (older than" in output
    assert "audit trail entries: would delete 0" in output
    assert WebhookEvent.objects.filter(body_token__isnull=False).count() == 2


def test_old_bodies_are_redacted_and_their_parsed_items_stay(webhooks, api_client):
    old, new = webhooks
    items_before = list(WebhookItem.objects.order_by("pk").values_list("pk", "key_digest", "payload"))
    # when
    output = _run()
    # then the old body is gone (its digest stays, so a redelivery is still recognised), the new one is kept
    assert "raw webhook bodies: redacted 1" in output
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.body_token is None and old.redacted_at is not None and len(old.body_digest) == 64
    assert new.body_token is not None and new.redacted_at is None
    assert list(WebhookItem.objects.order_by("pk").values_list("pk", "key_digest", "payload")) == items_before
    # and the customer's export still lists both messages, from the parsed items
    exported = api_client.get("/api/v1/privacy/export", {"phone": "+919876500001"}).json()["webhooks"]
    assert [e["text"] for e in exported] == ["Hello 1", "Hello 2"]
    # and the run is in the audit trail, by the command's actor
    entry = LogEntry.objects.filter(additional_data__what="applied the retention policy").get()
    assert entry.actor.username == "system:management-command"
    assert entry.additional_data["removed"]["raw webhook bodies"] == 1
    # and a second run has nothing left to do
    assert "raw webhook bodies: redacted 0" in _run()


def test_a_redelivery_of_a_redacted_body_is_still_a_duplicate(webhooks, client):
    _run()
    response = post_webhook(client, inbound_text("919876500001", "Hello 1", wamid="wamid.in.1"))
    assert response.status_code == 200 and WebhookItem.objects.count() == 2


def test_a_body_never_read_into_items_is_kept_and_reported(webhooks):
    old, _ = webhooks
    WebhookEvent.objects.filter(pk=old.pk).update(split_at=None)
    output = _run()
    assert "raw webhook bodies: redacted 0" in output and "kept 1: never read into items" in output
    old.refresh_from_db()
    assert old.body_token is not None


def test_replaying_a_redacted_event_says_it_was_redacted(webhooks):
    old, _ = webhooks
    _run()
    out = io.StringIO()
    call_command("replay_webhooks", "--event", str(old.pk), stdout=out)
    assert f"Redacted: event {old.pk}: its raw body was redacted on" in out.getvalue()
    assert "parsed item(s) are replayed from their own copies" in out.getvalue()
    # and an event redacted before it was read says there is nothing to replay
    WebhookEvent.objects.filter(pk=old.pk).update(split_at=None)
    out = io.StringIO()
    call_command("replay_webhooks", "--event", str(old.pk), stdout=out)
    assert "before it was read into items; there is nothing left to replay" in out.getvalue()
    assert out.getvalue().rstrip().endswith("0 event(s) read, 0 item(s) replayed: 0 applied, 0 still failing")


def test_operational_rows_are_pruned_but_the_newest_are_kept():
    # given sync runs and ledger verifications of 100 days ago and of today
    now = timezone.now()
    old_error = ProfileSyncRun.objects.create(trigger="beat", result="error", error="timeout")
    old_ok = ProfileSyncRun.objects.create(trigger="beat", result="ok")
    older_ok = ProfileSyncRun.objects.create(trigger="beat", result="noop")
    fresh = ProfileSyncRun.objects.create(trigger="beat", result="error")
    _age(ProfileSyncRun, old_error.pk, "started_at", 100)
    _age(ProfileSyncRun, older_ok.pk, "started_at", 120)
    _age(ProfileSyncRun, old_ok.pk, "started_at", 95)  # the newest successful run: the dashboard shows it
    verifications = [
        LedgerVerification.objects.create(started_at=now - days * DAY, finished_at=now - days * DAY, ok=True,
                                          events_checked=1)
        for days in (200, 100)
    ]
    # when
    output = _run()
    # then
    assert "profile sync runs: deleted 2" in output
    assert set(ProfileSyncRun.objects.values_list("pk", flat=True)) == {old_ok.pk, fresh.pk}
    # the newest verification is kept however old: the dashboard's ledger tile reads it
    assert "ledger verification runs: deleted 1" in output
    assert list(LedgerVerification.objects.values_list("pk", flat=True)) == [verifications[1].pk]


def test_audit_and_access_logs_are_kept_a_year():
    # given audit entries and sign-in logs of 364 and of 366 days ago
    now = timezone.now()
    for days in (364, 366):
        entry = LogEntry.objects.create(action=LogEntry.Action.ACCESS, object_repr=f"{days}", content_type_id=1,
                                        object_pk="1", additional_data={"what": "test"})
        LogEntry.objects.filter(pk=entry.pk).update(timestamp=now - days * DAY)
        log = AccessLog.objects.create(username=f"staff{days}", ip_address="10.0.0.1", user_agent="t")
        AccessLog.objects.filter(pk=log.pk).update(attempt_time=now - days * DAY)  # auto_now_add on create
    # when
    output = _run()
    # then only the older than 365 days go
    assert "audit trail entries: deleted 1" in output and "staff sign-in logs: deleted 1" in output
    assert set(LogEntry.objects.filter(additional_data__what="test").values_list("object_repr", flat=True)) == {"364"}
    assert list(AccessLog.objects.values_list("username", flat=True)) == ["staff364"]


def test_a_retention_below_the_audit_floor_is_an_error_and_removes_nothing(settings, webhooks):
    # given an operator who set the audit retention to 90 days
    settings.RETENTION_AUDIT_DAYS = 90
    entry = LogEntry.objects.create(action=LogEntry.Action.ACCESS, object_repr="old", content_type_id=1,
                                    object_pk="1", additional_data={"what": "test"})
    LogEntry.objects.filter(pk=entry.pk).update(timestamp=timezone.now() - 200 * DAY)
    # then the system check names the variable
    errors = retention_check()
    assert [e.id for e in errors] == ["retention.E001"] and "RETENTION_AUDIT_DAYS is 90" in errors[0].msg
    # and the command refuses, the beat task refuses and alerts, and nothing is removed
    with pytest.raises(CommandError, match="at least 365 days"):
        _run("--dry-run")
    with pytest.raises(Exception, match="Nothing was removed"):
        apply_retention_task.delay()
    assert ComplianceAlert.objects.filter(kind="retention_misconfigured", acknowledged_at__isnull=True).exists()
    assert LogEntry.objects.filter(pk=entry.pk).exists()
    assert WebhookEvent.objects.filter(body_token__isnull=True).count() == 0


def test_each_misconfigured_period_has_its_own_check_id(settings):
    settings.RETENTION_WEBHOOK_DAYS = 0
    assert [e.id for e in retention_check()] == ["retention.E002"]
    settings.RETENTION_OPERATIONAL_DAYS = -1
    assert [e.id for e in retention_check()] == ["retention.E002", "retention.E003"]


def test_beat_runs_retention_nightly(webhooks):
    entry = settings.CELERY_BEAT_SCHEDULE["core-apply-retention"]
    assert entry["task"] == "pandorakart_wa.tasks.apply_retention_task"
    # when beat's task runs (eager in tests)
    apply_retention_task.delay()
    # then the old body is redacted, by the Celery actor
    assert WebhookEvent.objects.filter(body_token__isnull=True).count() == 1
    entry_log = LogEntry.objects.filter(additional_data__what="applied the retention policy").get()
    assert entry_log.actor.username == "system:celery"
