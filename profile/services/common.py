"""Shared by profile's services: the sync lock's name, policy defaults and the errors they raise."""

from __future__ import annotations

import logging
from datetime import timedelta

from pandorakart_wa.core.audit import User
from pandorakart_wa.core.errors import Conflict

logger = logging.getLogger(__name__)


SYNC_LOCK = "business-profile-sync"


# How long a policy stays current before its next review, when the draft names no date.
DEFAULT_POLICY_REVIEW_DAYS = 365


# A significant change whose notice has not left after this long is flagged to staff.
NOTIFICATION_STUCK_AFTER = timedelta(hours=1)


class ProfileSyncBusy(Conflict):
    """Another sync (or resolution) holds the lock: try again in a moment."""

    default_code = "profile_sync_busy"


class PolicyImmutable(Conflict):
    """A published policy version cannot be changed: write a new version instead."""

    default_code = "policy_published"


def actor_id(actor: User | None) -> int | None:
    return int(actor.pk) if actor is not None and actor.pk is not None else None
