"""Reads of the profile app that the API, the public pages and other apps need."""

from __future__ import annotations

from django.db.models import QuerySet

from profile.models import BusinessProfile, ComplianceAlert, PolicyVersion


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
    return ComplianceAlert.objects.filter(acknowledged_at__isnull=True).order_by("-raised_at")
