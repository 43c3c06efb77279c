"""The business profile: what staff edit, and the sync with Meta's copy (drift kept or accepted)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from pandorakart_wa.core.audit import User
from pandorakart_wa.whatsapp import get_backend
from pandorakart_wa.whatsapp.errors import DeliveryUnknown, TransientError, WhatsAppError
from profile.locks import lease
from profile.models import (
    BusinessProfile,
    ProfileDrift,
    ProfileSyncRun,
)
from profile.services.alerts import alert_raise
from profile.services.common import SYNC_LOCK, ProfileSyncBusy, actor_id
from profile.validation import EDITABLE_FIELDS, META_FIELDS, profile_validate

logger = logging.getLogger(__name__)


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
    profile = BusinessProfile.objects.create(**merged, updated_by_id=actor_id(actor))
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
    profile.updated_by_id = actor_id(actor)
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
            drift.resolved_by_id, drift.resolution_note = actor_id(actor), note
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
            drift.resolved_by_id, drift.resolution_note = actor_id(actor), note
            drift.save(update_fields=["ours", "resolution", "resolved_at", "resolved_by", "resolution_note"])
        return drift
