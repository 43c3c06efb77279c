"""The regulatory register and the compliance review reminders beat checks daily."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from pandorakart_wa.core.audit import User
from pandorakart_wa.core.timefmt import staff_time
from profile.models import (
    ComplianceAlert,
    PolicyVersion,
    RegulatoryChange,
)
from profile.services.alerts import alert_raise
from profile.services.common import NOTIFICATION_STUCK_AFTER

REGISTER_FIELDS = ("source", "title", "summary", "reference_url", "effective_date", "affected_areas",
                   "owner", "status", "review_due")


@transaction.atomic
def regulatory_change_save(*, change: RegulatoryChange, actor: User | None) -> RegulatoryChange:
    """Create or update a register entry (the admin form has validated the fields)."""
    change.full_clean(exclude=["seed_key"])
    change.save()
    return change


@transaction.atomic
def regulatory_change_seed(*, entries: Iterable[Mapping[str, Any]]) -> int:
    """Add the entries whose `seed_key` is not in the register yet (never overwrites staff's
    edits); returns how many were added."""
    added = 0
    for entry in entries:
        _, created = RegulatoryChange.objects.get_or_create(
            seed_key=entry["seed_key"], defaults={k: v for k, v in entry.items() if k != "seed_key"}
        )
        added += created
    return added


def _raise_condition(alerts: list[ComplianceAlert], **alert: Any) -> None:
    """Raise an alert for a lasting condition, unless staff already acknowledged this very one
    (the dedupe key carries the due date: a new date that lapses is flagged again)."""
    if not ComplianceAlert.objects.filter(dedupe_key=alert["dedupe_key"], acknowledged_at__isnull=False).exists():
        alerts.append(alert_raise(**alert))


def compliance_reviews_check(*, today: date | None = None) -> list[ComplianceAlert]:
    """Flag overdue reviews: the current policy's next review date, open register entries past
    their review date, and significant policy changes whose customer notice never left.
    Returns the alerts raised or refreshed."""
    today = today or timezone.localdate()
    alerts: list[ComplianceAlert] = []
    current = (
        PolicyVersion.objects.filter(status=PolicyVersion.Status.PUBLISHED).order_by("-number").first()
    )
    if current is not None and current.next_review_due is not None and current.next_review_due < today:
        _raise_condition(
            alerts,
            kind="policy_review_overdue",
            title=f"{current} was due for review on {current.next_review_due:%d %b %Y}",
            detail="Review the policy: publish a new version, or use 'Mark reviewed' in the admin when it "
            "needs no change.",
            dedupe_key=f"policy-review:{current.number}:{current.next_review_due.isoformat()}",
            subject=current,
        )
    for entry in RegulatoryChange.objects.filter(
        status__in=RegulatoryChange.ACTIVE_STATUSES, review_due__lt=today
    ).select_related("owner"):
        assert entry.review_due is not None
        owner = entry.owner.get_username() if entry.owner else "no owner"
        _raise_condition(
            alerts,
            kind="regulatory_review_overdue",
            title=f"Register review overdue: {entry.title}"[:200],
            detail=f"Review was due on {entry.review_due:%d %b %Y} ({owner}; status {entry.get_status_display()}).",
            dedupe_key=f"register-review:{entry.pk}:{entry.review_due.isoformat()}",
            subject=entry,
        )
    stuck_before = timezone.now() - NOTIFICATION_STUCK_AFTER
    for version in PolicyVersion.objects.filter(
        notification_status=PolicyVersion.Notification.PENDING, published_at__lt=stuck_before
    ):
        alerts.append(alert_raise(
            kind="policy_notice_not_sent",
            title=f"Customers were not told of {version}",
            detail=f"The notice has been pending since {staff_time(version.published_at)} "
            "(was the worker down?). Use 'Notify customers again' on the version.",
            dedupe_key=f"policy-notice:{version.number}",
            subject=version,
        ))
    return alerts
