"""Reads of the profile app that the API, the public pages and other apps need."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Max, QuerySet

from profile.models import BusinessProfile, ComplianceAlert, PolicyVersion, ProfileDrift, ProfileSyncRun

# The sync runs that completed: pushed, nothing to do, or drift found (not running, failed or skipped).
SYNC_COMPLETED = (ProfileSyncRun.Result.OK, ProfileSyncRun.Result.NOOP, ProfileSyncRun.Result.DRIFT)


def profile_get() -> BusinessProfile | None:
    """The business profile (there is at most one), or None before it is configured."""
    return BusinessProfile.objects.first()


def support_contacts() -> dict[str, str]:
    """The support channels the policy publishes: {"email", "phone", "website"} ("" when unset).

    Other apps (complaint acknowledgements, notices) quote these instead of hard-coding them.
    """
    profile = profile_get()
    if profile is None:
        return {"email": "", "phone": "", "website": ""}
    return {"email": profile.support_email, "phone": profile.support_phone, "website": profile.support_website}


def policy_published() -> QuerySet[PolicyVersion]:
    """Published policy versions, newest first."""
    return PolicyVersion.objects.filter(status=PolicyVersion.Status.PUBLISHED).order_by("-number")


def policy_current() -> PolicyVersion | None:
    """The policy in force: the published version with the highest number."""
    return policy_published().first()


def policy_version_get(*, pk: int) -> PolicyVersion:
    """One policy version (PolicyVersion.DoesNotExist when there is none)."""
    return PolicyVersion.objects.get(pk=pk)


def alerts_open() -> QuerySet[ComplianceAlert]:
    """Unacknowledged alerts, the newest first."""
    return ComplianceAlert.objects.filter(acknowledged_at__isnull=True).order_by("-raised_at")


def alerts_open_count() -> int:
    """How many alerts are not acknowledged (alerts_open), in one count."""
    return alerts_open().count()


def alerts_open_by_last_raised() -> QuerySet[ComplianceAlert]:
    """Unacknowledged alerts, raised again most recently first (the staff's worklist)."""
    return ComplianceAlert.objects.filter(acknowledged_at__isnull=True).order_by("-last_raised_at")


@dataclass(frozen=True)
class ProfileStatus:
    open_drift: list[ProfileDrift]
    last_run: ProfileSyncRun | None
    last_good_run: ProfileSyncRun | None


def profile_status() -> ProfileStatus:
    """The open drift between our profile and Meta's, the latest sync run and the latest that
    completed (three queries)."""
    return ProfileStatus(
        open_drift=list(ProfileDrift.objects.filter(resolved_at__isnull=True).order_by("field")),
        last_run=ProfileSyncRun.objects.order_by("-started_at", "-id").first(),
        last_good_run=ProfileSyncRun.objects.filter(result__in=SYNC_COMPLETED).order_by("-started_at", "-id").first(),
    )


# --- Monitoring (pandorakart_wa.metrics) -----------------------------------------------------


def profile_drift_open_count() -> int:
    """How many profile fields WhatsApp holds differently, unresolved, in one count."""
    return ProfileDrift.objects.filter(resolved_at__isnull=True).count()


def profile_last_completed_sync_at() -> dt.datetime | None:
    """When the latest completed sync run (SYNC_COMPLETED) finished, or None before the first."""
    finished: dt.datetime | None = ProfileSyncRun.objects.filter(result__in=SYNC_COMPLETED).aggregate(
        t=Max("finished_at"))["t"]
    return finished


def sync_runs_expired(*, before: dt.datetime) -> QuerySet[ProfileSyncRun]:
    """Finished sync runs started before `before` that retention may delete: never the newest
    run nor the newest successful one (the dashboard shows them)."""
    keep = [pk for pk in (
        ProfileSyncRun.objects.order_by("-started_at", "-id").values_list("pk", flat=True).first(),
        ProfileSyncRun.objects.filter(result__in=[ProfileSyncRun.Result.OK, ProfileSyncRun.Result.NOOP,
                                                  ProfileSyncRun.Result.DRIFT])  # the dashboard's "last successful"
        .order_by("-started_at", "-id").values_list("pk", flat=True).first(),
    ) if pk is not None]
    return ProfileSyncRun.objects.filter(started_at__lt=before).exclude(result=ProfileSyncRun.Result.RUNNING).exclude(
        pk__in=keep
    )
