"""The stop-all switch: halt every send at once (account restrictions, incidents) and restart."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from messaging.models import SendingPolicy
from messaging.wake import SEND_DUE_MESSAGES, task
from profile.services.alerts import alert_raise

logger = logging.getLogger(__name__)

ALERT_KIND = "sending_stopped"


@transaction.atomic
def sending_stop_all(*, reason: str, source: str) -> SendingPolicy:
    """Stop every send now. Queued messages stay queued (nothing is dropped); the workers hold
    them until staff restart sending. Compliance officers are alerted."""
    policy, _ = SendingPolicy.objects.select_for_update().get_or_create(pk=1)
    if not policy.stop_all:
        policy.stop_all = True
        policy.stop_all_since = timezone.now()
    policy.stop_all_reason = f"[{source}] {reason}"[:2000]
    policy.save(update_fields=["stop_all", "stop_all_since", "stop_all_reason", "updated_at"])
    logger.error("All sending stopped (%s): %s", source, reason)
    alert_raise(
        kind=ALERT_KIND,
        title="All WhatsApp sending is stopped",
        detail=policy.stop_all_reason,
        dedupe_key="messaging:stop-all",
        subject=policy,
    )
    return policy


@transaction.atomic
def sending_restart(*, note: str) -> SendingPolicy:
    """Resume sending after staff dealt with the cause; held messages go out again."""
    policy, _ = SendingPolicy.objects.select_for_update().get_or_create(pk=1)
    policy.stop_all = False
    policy.stop_all_reason = f"Restarted: {note}"[:2000]
    policy.stop_all_since = None
    policy.save(update_fields=["stop_all", "stop_all_since", "stop_all_reason", "updated_at"])
    transaction.on_commit(task(SEND_DUE_MESSAGES).delay)
    return policy


POLICY_FIELDS = ("marketing_cap_count", "marketing_cap_days", "quiet_hours_start", "quiet_hours_end",
                 "quiet_hours_timezone")


@transaction.atomic
def sending_policy_update(*, changes: Mapping[str, Any]) -> SendingPolicy:
    """Staff edit the marketing frequency cap and quiet hours (audited by django-auditlog)."""
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError({name: ["This field cannot be edited here."] for name in sorted(unknown)})
    policy, _ = SendingPolicy.objects.select_for_update().get_or_create(pk=1)
    for name, value in changes.items():
        setattr(policy, name, value)
    if policy.marketing_cap_count < 1 or policy.marketing_cap_days < 1:
        raise ValidationError({"marketing_cap_count": ["The cap must allow at least 1 message in at least 1 day."]})
    try:
        ZoneInfo(policy.quiet_hours_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError({"quiet_hours_timezone": ["Not a known time zone (e.g. Asia/Kolkata)."]}) from None
    policy.save()
    return policy
