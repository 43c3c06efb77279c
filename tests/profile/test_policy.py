from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from profile.hooks import policy_change_notifiers
from profile.models import ComplianceAlert, PolicyVersion
from profile.services.common import PolicyImmutable
from profile.services.policy import policy_draft_update
from profile.services.publishing import policy_publish
from tests.profile import notifiers
from tests.profile.factories import PolicyDraftFactory

pytestmark = pytest.mark.django_db

Notification = PolicyVersion.Notification
RECORD = notifiers.record


def publish(**fields: Any) -> PolicyVersion:
    return policy_publish(version_id=PolicyDraftFactory(**fields).pk, actor=None)


def test_policy_page_shows_the_current_version_to_anyone(client: Client) -> None:
    # given two published versions
    publish(body="Old text\n\n1. Introduction\n\nThe first wording.")
    publish(body="Policy\n\n1. Introduction\n\nThe second wording.\n\n1. Contact\n\n• Email: support@pandorakart.com",
            change_summary="Clearer contact section.", next_review_due=date(2027, 6, 30))
    # when an anonymous visitor opens /policy/
    response = client.get("/policy/")
    # then the current version is shown with its version, dates, changes and links to earlier ones
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "The second wording." in page and "The first wording." not in page
    assert "Version 2" in page
    assert "Next review due" in page and "30 June 2027" in page
    assert "Clearer contact section." in page
    assert 'href="/policy/v/1/"' in page
    assert "<strong>Email:</strong>" in page
    # sections are numbered in order, whatever the text typed
    assert '<span class="n">2.</span>Contact' in page
    assert "<link" not in page and "<script" not in page  # self-contained: nothing loaded from a CDN


def test_an_earlier_version_is_shown_as_superseded(client: Client) -> None:
    # given
    publish(body="Old text\n\n1. Introduction\n\nThe first wording.")
    publish(body="Policy\n\n1. Introduction\n\nThe second wording.")
    # when
    response = client.get("/policy/v/1/")
    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert "The first wording." in page
    assert "an earlier version" in page and 'href="/policy/"' in page


def test_drafts_and_unknown_versions_are_not_public(client: Client) -> None:
    # given a published version and a draft
    publish()
    PolicyDraftFactory(body="Secret draft\n\n1. Draft")
    # when / then
    assert client.get("/policy/v/2/").status_code == 404
    assert "Secret draft" not in client.get("/policy/").content.decode()


def test_policy_page_before_anything_is_published_is_404(client: Client) -> None:
    response = client.get("/policy/")
    assert response.status_code == 404
    assert b"not been published" in response.content


def test_text_is_escaped(client: Client) -> None:
    publish(body="<script>alert(1)</script>\n\n1. Intro")
    page = client.get("/policy/").content.decode()
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_published_versions_are_immutable() -> None:
    # given
    version = publish()
    # when / then
    with pytest.raises(PolicyImmutable):
        policy_draft_update(version_id=version.pk, changes={"body": "changed"}, actor=None)
    with pytest.raises(PolicyImmutable):
        policy_publish(version_id=version.pk, actor=None)
    assert PolicyVersion.objects.get().number == 1


def test_publishing_numbers_versions_and_sets_a_review_date() -> None:
    first, second = publish(), publish()
    assert (first.number, second.number) == (1, 2)
    assert second.next_review_due is not None and second.next_review_due > date.today()


def test_significant_change_calls_the_notifiers_only_after_commit(
    replace_hooks: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given a notifier is configured
    replace_hooks(policy_change_notifiers, [RECORD])
    draft = PolicyDraftFactory(significant_change=True)
    # when the significant change is published
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        version = policy_publish(version_id=draft.pk, actor=None)
        # then nothing is sent while the transaction is open
        assert notifiers.calls == []
        assert version.notification_status == Notification.PENDING
    # and the notifier is called with the version id once it commits
    for callback in callbacks:
        callback()
    assert notifiers.calls == [version.pk]
    version.refresh_from_db()
    assert version.notification_status == Notification.NOTIFIED
    assert version.notified_at is not None


def test_a_rolled_back_publication_notifies_nobody(replace_hooks: Any, django_capture_on_commit_callbacks: Any) -> None:
    # given
    replace_hooks(policy_change_notifiers, [RECORD])
    draft = PolicyDraftFactory(significant_change=True)
    # when the publication's transaction rolls back
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        policy_publish(version_id=draft.pk, actor=None)
        raise RuntimeError("boom")
    # then
    assert notifiers.calls == []
    assert PolicyVersion.objects.get().status == PolicyVersion.Status.DRAFT


def test_a_minor_change_notifies_nobody(replace_hooks: Any, django_capture_on_commit_callbacks: Any) -> None:
    replace_hooks(policy_change_notifiers, [RECORD])
    with django_capture_on_commit_callbacks(execute=True):
        version = publish(significant_change=False)
    assert notifiers.calls == []
    assert version.notification_status == Notification.NOT_REQUIRED


@pytest.mark.parametrize(
    ("paths", "status"),
    [([], Notification.NO_NOTIFIER), ([notifiers.explode], Notification.FAILED)],
)
def test_customers_not_told_raises_an_alert(
    replace_hooks: Any, django_capture_on_commit_callbacks: Any, paths: list[Any], status: str
) -> None:
    # given no notifier, or one that fails
    replace_hooks(policy_change_notifiers, paths)
    # when a significant change is published
    with django_capture_on_commit_callbacks(execute=True):
        version = publish(significant_change=True)
    # then the version says so and Compliance officers are alerted
    version.refresh_from_db()
    assert version.notification_status == status
    alert = ComplianceAlert.objects.get(kind="policy_notice_not_sent")
    assert alert.subject == version
