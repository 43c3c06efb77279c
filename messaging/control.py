"""The stop-all switch: halt every send at once (account restrictions, incidents) and restart."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from messaging.models import SendingPolicy
from profile.services import alert_raise

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
    from messaging.tasks import send_due_messages

    transaction.on_commit(send_due_messages.delay)
    return policy
