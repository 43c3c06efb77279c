"""Every write of the profile app: the business profile and its sync with Meta, drift
resolution, policy versions, the regulatory register and compliance alerts.

profile is the lowest app: it imports no other app, and any app may call `alert_raise`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from pandorakart_wa.core.audit import User
from pandorakart_wa.core.timefmt import staff_time
from pandorakart_wa.whatsapp import get_backend
from pandorakart_wa.whatsapp.errors import DeliveryUnknown, TransientError, WhatsAppError
from profile.hooks import policy_change_notifiers
from profile.locks import lease
from profile.models import (
    BusinessProfile,
    ComplianceAlert,
    PolicyVersion,
    ProfileDrift,
    ProfileSyncRun,
    RegulatoryChange,
)
from profile.validation import EDITABLE_FIELDS, META_FIELDS, profile_validate

logger = logging.getLogger(__name__)


SYNC_LOCK = "business-profile-sync"
# How long a policy stays current before its next review, when the draft names no date.
DEFAULT_POLICY_REVIEW_DAYS = 365
# A significant change whose notice has not left after this long is flagged to staff.
NOTIFICATION_STUCK_AFTER = timedelta(hours=1)


class ProfileSyncBusy(Exception):
    """Another sync (or resolution) holds the lock: try again in a moment."""


class PolicyImmutable(Exception):
    """A published policy version cannot be changed: write a new version instead."""


def _actor_id(actor: User | None) -> int | None:
    return int(actor.pk) if actor is not None and actor.pk is not None else None


# --- Compliance alerts ----------------------------------------------------------------------


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
        alert.acknowledged_by_id = _actor_id(actor)
        alert.save(update_fields=["acknowledged_at", "acknowledged_by"])  # one by one: audited
        count += 1
    return count


# --- Business profile -----------------------------------------------------------------------


def meta_values(profile: BusinessProfile) -> dict[str, Any]:
    """The profile's fields as Meta holds them (the payload of a push)."""
    return {field: getattr(profile, field) for field in META_FIELDS}


def _editable_values(profile: BusinessProfile) -> dict[str, Any]:
    return {field: getattr(profile, field) for field in EDITABLE_FIELDS}


@transaction.atomic
def profile_ensure(*, values: Mapping[str, Any], actor: User | None) -> tuple[BusinessProfile, bool]:
    """Create the business profile from `values` unless one exists (seeding): (profile, created)."""
    existing = BusinessProfile.objects.select_for_update().first()
    if existing is not None:
        return existing, False
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: [f"{name} is not a profile field."] for name in sorted(unknown)})
    merged = {**dict.fromkeys(EDITABLE_FIELDS, ""), "websites": [], **values}
    profile_validate(merged)
    profile = BusinessProfile.objects.create(**merged, updated_by_id=_actor_id(actor))
    return profile, True


@transaction.atomic
def profile_update(*, changes: Mapping[str, Any], actor: User | None) -> BusinessProfile:
    """Change fields of the business profile after checking Meta's limits on the result.

    Raises ValidationError keyed by field (each message names the field and the limit);
    nothing is saved then. Bumps `revision` when a value actually changed, so the next sync
    pushes it.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: [f"{name} is not a profile field."] for name in sorted(unknown)})
    profile = BusinessProfile.objects.select_for_update().get()
    merged = {**_editable_values(profile), **changes}
    profile_validate(merged)
    changed = [field for field, value in changes.items() if getattr(profile, field) != value]
    if not changed:
        return profile
    for field in changed:
        setattr(profile, field, changes[field])
    profile.revision += 1
    profile.updated_by_id = _actor_id(actor)
    profile.save(update_fields=[*changed, "revision", "updated_by", "updated_at"])
    return profile


def _lock_ttl() -> timedelta:
    # Longer than any run can last: a worker's run is killed at the hard time limit.
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)


def _theirs(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Meta's profile in our shape: Meta omits the fields that were never set."""
    values: dict[str, Any] = {}
    for field in META_FIELDS:
        value = raw.get(field)
        if field == "websites":
            values[field] = list(value) if isinstance(value, (list, tuple)) else []
        else:
            values[field] = value if isinstance(value, str) else ""
    return values


def _finish(run: ProfileSyncRun, **fields: Any) -> ProfileSyncRun:
    for name, value in fields.items():
        setattr(run, name, value)
    run.finished_at = timezone.now()
    run.save(update_fields=[*fields, "finished_at"])
    return run


def profile_sync(*, trigger: str, attempt: int = 1) -> ProfileSyncRun:
    """Run one sync of the business profile with Meta and record it as a ProfileSyncRun.

    Reads Meta's profile; a field whose Meta value differs from what we last pushed is drift
    (edited elsewhere): recorded as a ProfileDrift and left alone until staff resolve it.
    Every other field that differs from ours is pushed (the first sync pushes everything).
    Never overlaps another run: when the lock is taken the run is recorded as skipped.
    A WhatsAppError is recorded on the run and raised again (the task retries the transient
    ones). Must not be called inside a transaction: the lock and the run record commit at once.
    """
    with lease(name=SYNC_LOCK, ttl=_lock_ttl()) as held:
        if not held:
            logger.info("Profile sync skipped: another run holds the lock")
            return ProfileSyncRun.objects.create(
                trigger=trigger, attempt=attempt, result=ProfileSyncRun.Result.SKIPPED, finished_at=timezone.now()
            )
        run = ProfileSyncRun.objects.create(trigger=trigger, attempt=attempt)
        try:
            return _sync(run)
        except Exception as exc:
            retryable = isinstance(exc, TransientError | DeliveryUnknown)
            _finish(run, result=ProfileSyncRun.Result.ERROR, error=f"{type(exc).__name__}: {exc}"[:4000],
                    retryable=retryable)
            logger.warning("Profile sync failed (%s): %s", "will retry" if retryable else "permanent", exc)
            if not retryable:
                alert_raise(
                    kind="profile_sync_error",
                    title="The WhatsApp business profile sync failed",
                    detail=f"{type(exc).__name__}: {exc}",
                    dedupe_key="profile-sync-error",
                    subject=run,
                )
            raise


def _sync(run: ProfileSyncRun) -> ProfileSyncRun:
    profile = BusinessProfile.objects.first()
    if profile is None:
        raise ValueError("There is no business profile to sync yet (run seed_demo or create it in the admin).")
    ours = meta_values(profile)
    theirs = _theirs(get_backend().get_business_profile())
    pushed: dict[str, Any] | None = profile.pushed_values

    drifted: dict[str, Any] = {}
    converged: dict[str, Any] = {}
    if pushed is None:  # first sync: nothing was pushed yet, ours is the truth
        to_push = dict(ours)
    else:
        for field in META_FIELDS:
            if theirs[field] == pushed.get(field):
                continue
            if theirs[field] == ours[field]:
                converged[field] = theirs[field]  # edited elsewhere, to what we hold now
            else:
                drifted[field] = theirs[field]
        to_push = {f: ours[f] for f in META_FIELDS if f not in drifted and ours[f] != theirs[f]}

    if to_push:
        get_backend().update_business_profile(to_push)

    now = timezone.now()
    new_drifts: list[str] = []
    with transaction.atomic():
        locked = BusinessProfile.objects.select_for_update().get(pk=profile.pk)
        snapshot = dict(locked.pushed_values or {})
        snapshot.update(to_push)
        snapshot.update(converged)
        locked.pushed_values = snapshot
        if to_push or pushed is None:
            locked.pushed_revision, locked.pushed_at = profile.revision, now
        locked.save(update_fields=["pushed_values", "pushed_revision", "pushed_at"])
        for drift in ProfileDrift.objects.select_for_update().filter(resolved_at__isnull=True).exclude(
            field__in=list(drifted)
        ):
            # Meta holds our last pushed value again, or our current one: nothing to resolve.
            drift.resolution, drift.resolved_at = ProfileDrift.Resolution.CONVERGED, now
            drift.resolution_note = "Closed by the sync: Meta and ours agree again."
            drift.save(update_fields=["resolution", "resolved_at", "resolution_note"])
        for field, value in drifted.items():
            drift, created = ProfileDrift.objects.select_for_update().get_or_create(
                field=field,
                resolved_at__isnull=True,
                defaults={"ours": ours[field], "theirs": value, "last_pushed": (pushed or {}).get(field),
                          "detected_by_run": run, "last_seen_at": now},
            )
            if created:
                new_drifts.append(field)
            else:
                drift.ours, drift.theirs, drift.last_seen_at = ours[field], value, now
                drift.save(update_fields=["ours", "theirs", "last_seen_at"])
        if drifted:
            result = ProfileSyncRun.Result.DRIFT
        elif to_push:
            result = ProfileSyncRun.Result.OK
        else:
            result = ProfileSyncRun.Result.NOOP
        _finish(run, result=result, profile_revision=profile.revision, fields_pushed=sorted(to_push),
                drift_fields=sorted(drifted))
    for field in new_drifts:
        alert_raise(
            kind="profile_drift",
            title=f"WhatsApp business profile: {field} was changed outside the back office",
            detail=f"Meta now shows {drifted[field]!r}; we hold {ours[field]!r}. "
            "Resolve it in the admin (Profile drifts): keep ours or accept theirs.",
            dedupe_key=f"profile-drift:{field}",
        )
    logger.info("Profile sync %s: pushed %s, drift %s", result, sorted(to_push) or "-", sorted(drifted) or "-")
    return run


def _open_drift(drift_id: int) -> ProfileDrift:
    drift = ProfileDrift.objects.select_for_update().get(pk=drift_id)
    if drift.resolved_at is not None:
        raise ValidationError(f"This drift of {drift.field} was already resolved ({drift.get_resolution_display()}).")
    return drift


def profile_drift_keep_ours(*, drift_id: int, actor: User | None, note: str = "") -> ProfileDrift:
    """Resolve a drift by pushing our value of the field to Meta (overwriting the edit made
    elsewhere). Raises ProfileSyncBusy while a sync runs, WhatsAppError when Meta refuses:
    the drift then stays open."""
    with lease(name=SYNC_LOCK, ttl=_lock_ttl()) as held:
        if not held:
            raise ProfileSyncBusy("A profile sync is running; try again in a moment.")
        drift = ProfileDrift.objects.get(pk=drift_id)
        if drift.resolved_at is not None:
            raise ValidationError(f"This drift of {drift.field} was already resolved.")
        profile = BusinessProfile.objects.get()
        value = getattr(profile, drift.field)
        run = ProfileSyncRun.objects.create(trigger=ProfileSyncRun.Trigger.RESOLUTION, profile_revision=profile.revision)
        try:
            get_backend().update_business_profile({drift.field: value})
        except WhatsAppError as exc:
            _finish(run, result=ProfileSyncRun.Result.ERROR, error=f"{type(exc).__name__}: {exc}",
                    retryable=isinstance(exc, TransientError | DeliveryUnknown))
            raise
        with transaction.atomic():
            drift = _open_drift(drift_id)
            locked = BusinessProfile.objects.select_for_update().get()
            locked.pushed_values = {**(locked.pushed_values or {}), drift.field: value}
            locked.pushed_at = timezone.now()
            locked.save(update_fields=["pushed_values", "pushed_at"])
            drift.ours = value
            drift.resolution, drift.resolved_at = ProfileDrift.Resolution.KEEP_OURS, timezone.now()
            drift.resolved_by_id, drift.resolution_note = _actor_id(actor), note
            drift.save(update_fields=["ours", "resolution", "resolved_at", "resolved_by", "resolution_note"])
            _finish(run, result=ProfileSyncRun.Result.OK, fields_pushed=[drift.field])
        return drift


def profile_drift_accept_theirs(*, drift_id: int, actor: User | None, note: str = "") -> ProfileDrift:
    """Resolve a drift by taking Meta's value into our profile (validated like any edit)."""
    with lease(name=SYNC_LOCK, ttl=_lock_ttl()) as held:
        if not held:
            raise ProfileSyncBusy("A profile sync is running; try again in a moment.")
        with transaction.atomic():
            drift = _open_drift(drift_id)
            profile_update(changes={drift.field: drift.theirs}, actor=actor)
            locked = BusinessProfile.objects.select_for_update().get()
            locked.pushed_values = {**(locked.pushed_values or {}), drift.field: drift.theirs}
            locked.save(update_fields=["pushed_values"])
            drift.ours = drift.theirs
            drift.resolution, drift.resolved_at = ProfileDrift.Resolution.ACCEPT_THEIRS, timezone.now()
            drift.resolved_by_id, drift.resolution_note = _actor_id(actor), note
            drift.save(update_fields=["ours", "resolution", "resolved_at", "resolved_by", "resolution_note"])
        return drift


# --- Policy versions ------------------------------------------------------------------------

POLICY_DRAFT_FIELDS = ("title", "body", "change_summary", "significant_change", "next_review_due")


def _policy_check(values: Mapping[str, Any]) -> None:
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
    _policy_check(values)
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
    _policy_check({f: getattr(version, f) for f in POLICY_DRAFT_FIELDS})
    version.save(update_fields=list(changes))
    return version


@transaction.atomic
def policy_publish(*, version_id: int, actor: User | None) -> PolicyVersion:
    """Publish a draft as the next version number: from now on it is `GET /policy/`.

    For a significant change, once this transaction commits, every notifier named in
    profile.hooks.policy_change_notifiers is called with the version id (see `policy_notify`).
    """
    version = PolicyVersion.objects.select_for_update().get(pk=version_id)
    if version.status != PolicyVersion.Status.DRAFT:
        raise PolicyImmutable(f"{version} is already published.")
    _policy_check({f: getattr(version, f) for f in POLICY_DRAFT_FIELDS})
    # Lock every published row so two publications cannot take the same number.
    numbers = list(
        PolicyVersion.objects.select_for_update().filter(status=PolicyVersion.Status.PUBLISHED)
        .values_list("number", flat=True)
    )
    now = timezone.now()
    version.number = max((n for n in numbers if n is not None), default=0) + 1
    version.status = PolicyVersion.Status.PUBLISHED
    version.published_at = now
    version.published_by_id = _actor_id(actor)
    if version.next_review_due is None:
        version.next_review_due = timezone.localdate(now) + timedelta(days=DEFAULT_POLICY_REVIEW_DAYS)
    if version.significant_change:
        version.notification_status = PolicyVersion.Notification.PENDING
        transaction.on_commit(lambda: _enqueue_policy_notify(version.pk))
    else:
        version.notification_status = PolicyVersion.Notification.NOT_REQUIRED
    version.save()
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


def _enqueue_policy_notify(version_id: int) -> None:
    from profile.tasks import policy_notify_task

    policy_notify_task.delay(version_id)


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


# --- Regulatory register --------------------------------------------------------------------

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
