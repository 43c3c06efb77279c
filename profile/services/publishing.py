"""Publishing a policy version. It sits above profile.tasks (it queues the customers' notice once
the publication commits) while the task runs policy.policy_notify below it: no circle."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from pandorakart_wa.core.audit import User
from profile.models import PolicyVersion
from profile.services.common import DEFAULT_POLICY_REVIEW_DAYS, PolicyImmutable, actor_id
from profile.services.policy import POLICY_DRAFT_FIELDS, policy_check
from profile.tasks import policy_notify_task


@transaction.atomic
def policy_publish(*, version_id: int, actor: User | None) -> PolicyVersion:
    """Publish a draft as the next version number: from now on it is `GET /policy/`.

    For a significant change, once this transaction commits, every notifier named in
    profile.hooks.policy_change_notifiers is called with the version id (see `policy_notify`).
    """
    version = PolicyVersion.objects.select_for_update().get(pk=version_id)
    if version.status != PolicyVersion.Status.DRAFT:
        raise PolicyImmutable(f"{version} is already published.")
    policy_check({f: getattr(version, f) for f in POLICY_DRAFT_FIELDS})
    # Lock every published row so two publications cannot take the same number.
    numbers = list(
        PolicyVersion.objects.select_for_update().filter(status=PolicyVersion.Status.PUBLISHED)
        .values_list("number", flat=True)
    )
    now = timezone.now()
    version.number = max((n for n in numbers if n is not None), default=0) + 1
    version.status = PolicyVersion.Status.PUBLISHED
    version.published_at = now
    version.published_by_id = actor_id(actor)
    if version.next_review_due is None:
        version.next_review_due = timezone.localdate(now) + timedelta(days=DEFAULT_POLICY_REVIEW_DAYS)
    if version.significant_change:
        version.notification_status = PolicyVersion.Notification.PENDING
        transaction.on_commit(lambda: policy_notify_task.delay(version.pk))
    else:
        version.notification_status = PolicyVersion.Notification.NOT_REQUIRED
    version.save()
    return version
