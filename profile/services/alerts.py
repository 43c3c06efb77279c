"""Compliance alerts: raised by any app (alert_raise, deduplicated while open) and acknowledged by
staff."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from pandorakart_wa.core.audit import User
from profile.models import (
    ComplianceAlert,
)
from profile.services.common import actor_id

logger = logging.getLogger(__name__)


def alert_raise(
    *, kind: str, title: str, detail: str = "", dedupe_key: str, subject: models.Model | None = None
) -> ComplianceAlert:
    """Flag something to the Compliance officers (admin: Compliance alerts) and log it.

    While an alert with the same `dedupe_key` is unacknowledged, raising it again updates that
    alert (detail, count, last_raised_at) instead of adding one; once acknowledged, the next
    raise opens a new alert. `subject` links the alert to the object concerned.
    """
    now = timezone.now()
    logger.warning("Compliance alert [%s] %s: %s", kind, title, detail)
    link: dict[str, Any] = {}
    if subject is not None:
        link = {"content_type": ContentType.objects.get_for_model(subject), "object_id": str(subject.pk)}
    for _ in range(2):  # a concurrent raise of the same key may win the insert
        try:
            with transaction.atomic():
                alert = (
                    ComplianceAlert.objects.select_for_update()
                    .filter(dedupe_key=dedupe_key, acknowledged_at__isnull=True)
                    .first()
                )
                if alert is None:
                    return ComplianceAlert.objects.create(
                        kind=kind, title=title[:200], detail=detail, dedupe_key=dedupe_key[:200],
                        last_raised_at=now, **link,
                    )
                alert.title, alert.detail, alert.last_raised_at = title[:200], detail, now
                alert.count += 1
                alert.save(update_fields=["title", "detail", "last_raised_at", "count"])
                return alert
        except IntegrityError:
            continue
    raise RuntimeError(f"Could not raise the alert {dedupe_key!r}")


@transaction.atomic
def alert_acknowledge(*, alert_ids: Iterable[int], actor: User | None) -> int:
    """Mark alerts as seen by `actor`; returns how many were still open."""
    count = 0
    for alert in ComplianceAlert.objects.select_for_update().filter(pk__in=list(alert_ids), acknowledged_at__isnull=True):
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by_id = actor_id(actor)
        alert.save(update_fields=["acknowledged_at", "acknowledged_by"])  # one by one: audited
        count += 1
    return count
