from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from profile.hooks import policy_change_notifiers
from profile.models import BusinessProfile, ComplianceAlert, PolicyVersion, RegulatoryChange
from profile.seed import seed_demo
from profile.services.alerts import alert_acknowledge, alert_raise
from profile.services.regulatory import compliance_reviews_check
from profile.tasks import compliance_reviews_task
from tests.profile import notifiers
from tests.profile.factories import PolicyDraftFactory, RegulatoryChangeFactory

pytestmark = pytest.mark.django_db

# The published policy text, as the repository keeps it (a verbatim copy of
# shared/reference/pandorakart-whatsapp-policy.txt).
POLICY_FILE = Path(__file__).resolve().parents[2] / "profile" / "policy_v1.txt"


def test_seed_is_idempotent_and_follows_the_policy(
    replace_hooks: Any, django_capture_on_commit_callbacks: Any, client: Client
) -> None:
    # given a notifier that would record any customer notice
    replace_hooks(policy_change_notifiers, [notifiers.record])
    # when the seed runs twice
    with django_capture_on_commit_callbacks(execute=True):
        seed_demo(io.StringIO())
        seed_demo(io.StringIO())
    # then one profile with the policy's contact details
    profile = BusinessProfile.objects.get()
    assert (profile.name, profile.vertical) == ("PANDORAKART", "RETAIL")
    assert profile.support_email == profile.email == "support@pandorakart.com"
    assert profile.support_phone == "+91 9227021270"
    assert profile.support_website == "https://www.pandorakart.com"
    # one published version 1, not significant: no campaign
    version = PolicyVersion.objects.get()
    assert (version.number, version.status, version.significant_change) == (1, "published", False)
    assert version.body == POLICY_FILE.read_text(encoding="utf-8")
    assert notifiers.calls == []
    # the register, once
    assert RegulatoryChange.objects.count() >= 10
    assert RegulatoryChange.objects.filter(effective_date=date(2027, 5, 13), source="dpdp_rules").exists()
    assert RegulatoryChange.objects.filter(effective_date=date(2025, 4, 9), source="meta_policy").exists()
    assert RegulatoryChange.objects.filter(source="trai").exists()
    # and the public page shows it
    assert "PANDORAKART is committed" in client.get("/policy/").content.decode()


def test_seed_does_not_overwrite_staff_edits() -> None:
    # given a seeded register whose entry staff then worked on
    seed_demo(io.StringIO())
    entry = RegulatoryChange.objects.get(seed_key="meta-bsuid-2026")
    RegulatoryChange.objects.filter(pk=entry.pk).update(status=RegulatoryChange.Status.DONE)
    # when the seed runs again
    seed_demo(io.StringIO())
    # then
    assert RegulatoryChange.objects.get(pk=entry.pk).status == RegulatoryChange.Status.DONE


def test_overdue_reviews_are_flagged_once() -> None:
    # given an overdue register entry, one done, one not yet due, and an overdue policy review
    today = date(2027, 1, 10)
    overdue = RegulatoryChangeFactory(review_due=today - timedelta(days=1))
    RegulatoryChangeFactory(review_due=today - timedelta(days=30), status=RegulatoryChange.Status.DONE)
    due_today = RegulatoryChangeFactory(review_due=today)
    from profile.services.publishing import policy_publish

    policy = policy_publish(
        version_id=PolicyDraftFactory(next_review_due=today - timedelta(days=2)).pk, actor=None
    )
    # when the daily check runs twice
    compliance_reviews_check(today=today)
    compliance_reviews_check(today=today)
    # then one alert per overdue item, each linked to it
    alerts = ComplianceAlert.objects.order_by("kind")
    assert [(a.kind, a.subject) for a in alerts] == [
        ("policy_review_overdue", policy), ("regulatory_review_overdue", overdue)]
    assert all(a.count == 2 for a in alerts)

    # when staff acknowledge them, the next day's check stays quiet for the same due dates
    # and flags only the entry that became overdue since
    alert_acknowledge(alert_ids=[a.pk for a in alerts], actor=None)
    compliance_reviews_check(today=today + timedelta(days=1))
    assert [a.subject for a in ComplianceAlert.objects.filter(acknowledged_at__isnull=True)] == [due_today]


def test_daily_task_runs_the_check() -> None:
    RegulatoryChangeFactory(review_due=date.today() - timedelta(days=3))
    assert compliance_reviews_task.delay().get() == 1
    assert ComplianceAlert.objects.filter(kind="regulatory_review_overdue").count() == 1


def test_alert_raise_dedupes_until_acknowledged() -> None:
    # given
    first = alert_raise(kind="stop_all", title="Sending stopped", detail="368", dedupe_key="account:368")
    # when the same key is raised again while open
    again = alert_raise(kind="stop_all", title="Sending stopped", detail="368 again", dedupe_key="account:368")
    # then it is the same alert, counted twice
    assert again.pk == first.pk and again.count == 2 and again.detail == "368 again"
    # when acknowledged and raised again, a new alert opens
    alert_acknowledge(alert_ids=[first.pk], actor=None)
    third = alert_raise(kind="stop_all", title="Sending stopped", detail="368", dedupe_key="account:368")
    assert third.pk != first.pk
    assert ComplianceAlert.objects.count() == 2
