"""Policy versions: drafts, publication (customers told of a significant change through the
connected notifiers), reviews."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from pandorakart_wa.core.audit import User
from profile.hooks import policy_change_notifiers
from profile.models import (
    PolicyVersion,
)
from profile.services.alerts import alert_raise
from profile.services.common import PolicyImmutable

logger = logging.getLogger(__name__)


POLICY_DRAFT_FIELDS = ("title", "body", "change_summary", "significant_change", "next_review_due")


def policy_check(values: Mapping[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    if not str(values.get("body", "")).strip():
        errors["body"] = ["body must not be empty."]
    if not str(values.get("title", "")).strip():
        errors["title"] = ["title must not be empty."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def policy_draft_create(
    *,
    body: str,
    title: str = "WhatsApp Business Policy",
    change_summary: str = "",
    significant_change: bool = False,
    next_review_due: date | None = None,
    actor: User | None,
) -> PolicyVersion:
    values = {"title": title, "body": body, "change_summary": change_summary,
              "significant_change": significant_change, "next_review_due": next_review_due}
    policy_check(values)
    return PolicyVersion.objects.create(**values)


@transaction.atomic
def policy_draft_update(*, version_id: int, changes: Mapping[str, Any], actor: User | None) -> PolicyVersion:
    """Edit a draft. Raises PolicyImmutable for a published version."""
    version = PolicyVersion.objects.select_for_update().get(pk=version_id)
    if version.status != PolicyVersion.Status.DRAFT:
        raise PolicyImmutable(f"{version} is published and cannot change; write a new version.")
    unknown = set(changes) - set(POLICY_DRAFT_FIELDS)
    if unknown:
        raise ValidationError({name: [f"{name} cannot be edited."] for name in sorted(unknown)})
    for field, value in changes.items():
        setattr(version, field, value)
    policy_check({f: getattr(version, f) for f in POLICY_DRAFT_FIELDS})
    version.save(update_fields=list(changes))
    return version


@transaction.atomic
def policy_review_record(*, version_id: int, next_review_due: date, actor: User | None) -> PolicyVersion:
    """Record that the policy in force was reviewed and needs no change: only its next review
    date moves (the text of a published version never changes; a change is a new version)."""
    version = PolicyVersion.objects.select_for_update().get(pk=version_id)
    if version.status != PolicyVersion.Status.PUBLISHED:
        raise ValidationError("Only a published version is reviewed; edit the draft instead.")
    if next_review_due <= timezone.localdate():
        raise ValidationError({"next_review_due": ["next_review_due must be in the future."]})
    version.next_review_due = next_review_due
    version.save(update_fields=["next_review_due"])  # audited by django-auditlog
    return version


def policy_notify(*, version_id: int) -> PolicyVersion:
    """Tell customers of a significantly changed policy: call each notifier in
    profile.hooks.policy_change_notifiers as `notifier(policy_version_id=<id>)` and record the outcome
    on the version. Notifiers must be idempotent per version id (this may run again after a
    failure). No notifier configured, or one failing, raises a compliance alert."""
    version = PolicyVersion.objects.get(pk=version_id)
    if version.status != PolicyVersion.Status.PUBLISHED or not version.significant_change:
        return version
    notifiers = policy_change_notifiers.items()
    errors: list[str] = []
    for name, notifier in notifiers:
        try:
            notifier(policy_version_id=version.pk)
        except Exception as exc:
            logger.exception("Policy change notifier %s failed for %s", name, version)
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    if not notifiers:
        status = PolicyVersion.Notification.NO_NOTIFIER
        detail = "No policy change notifier is connected (pandorakart_wa/wiring.py)."
    elif errors:
        status, detail = PolicyVersion.Notification.FAILED, "\n".join(errors)
    else:
        status, detail = PolicyVersion.Notification.NOTIFIED, "Called: " + ", ".join(name for name, _ in notifiers)
    PolicyVersion.objects.filter(pk=version.pk).update(
        notification_status=status, notification_detail=detail, notified_at=timezone.now()
    )
    version.refresh_from_db()
    if status != PolicyVersion.Notification.NOTIFIED:
        alert_raise(
            kind="policy_notice_not_sent",
            title=f"Customers were not told of {version}",
            detail=detail,
            dedupe_key=f"policy-notice:{version.number}",
            subject=version,
        )
    return version
