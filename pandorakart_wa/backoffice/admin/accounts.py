"""Writes for staff accounts: create a staff user in a role, give them a TOTP authenticator, lift
a sign-in lockout."""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice, default_key

from pandorakart_wa.core.audit import log_event
from pandorakart_wa.core.errors import ApplicationError
from pandorakart_wa.core.roles import COMPLIANCE_OFFICER, ROLES

PERM_UNLOCK = "axes.delete_accessattempt"  # lifting a lockout deletes django-axes's attempts

DEVICE_NAME = "Authenticator app"


class StaffAccountError(ApplicationError):
    pass


@transaction.atomic
def staff_user_create(
    *, username: str, email: str, password: str, role: str = COMPLIANCE_OFFICER, superuser: bool = False
) -> Any:
    """A staff user in `role` (one of roles.ROLES). The password must pass the validators."""
    if role not in ROLES:
        raise StaffAccountError(f"Unknown role {role!r}; one of: {', '.join(ROLES)}")
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise StaffAccountError(f"The user {username!r} already exists.")
    user = User(username=username, email=email, is_staff=True, is_superuser=superuser, is_active=True)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    group, _ = Group.objects.get_or_create(name=role)
    user.groups.add(group)
    return user


@transaction.atomic
def totp_device_ensure(*, user: Any, key: str | None = None, name: str = DEVICE_NAME) -> TOTPDevice:
    """The user's confirmed TOTP device: the existing one with this name (its key replaced when
    `key` differs), or a new one. `key` is hex (20 bytes recommended); None generates one."""
    if key is not None:
        try:
            if len(binascii.unhexlify(key)) < 10:
                raise StaffAccountError("A TOTP key needs at least 10 bytes (20 hex digits).")
        except (binascii.Error, ValueError) as exc:
            raise StaffAccountError("The TOTP key must be hexadecimal.") from exc
    device = TOTPDevice.objects.select_for_update().filter(user=user, name=name).order_by("pk").first()
    if device is None:
        return TOTPDevice.objects.create(user=user, name=name, key=key or default_key(), confirmed=True)
    changed = []
    if key is not None and device.key != key:
        device.key, device.last_t, device.drift = key, -1, 0
        changed += ["key", "last_t", "drift"]
    if not device.confirmed:
        device.confirmed = True
        changed.append("confirmed")
    if changed:
        device.save(update_fields=changed)
    return device


@transaction.atomic
def staff_signin_unlock(*, attempt_ids: Iterable[int], actor: Any) -> list[str]:
    """Lift the lockout of the selected sign-in attempts (username + address), as
    `axes_reset_username` does from the shell; each one is an entry in the audit trail naming
    the officer. Returns the usernames unlocked."""
    from auditlog.models import LogEntry
    from axes.models import AccessAttempt
    from axes.utils import reset
    from django.core.exceptions import PermissionDenied


    if not (actor.is_active and actor.has_perm(PERM_UNLOCK)):
        raise PermissionDenied(f"{actor.get_username()} may not lift sign-in lockouts.")
    unlocked: list[str] = []
    for attempt in AccessAttempt.objects.filter(pk__in=list(attempt_ids)).order_by("pk"):
        username, address, failures = attempt.username or "", attempt.ip_address or "", attempt.failures_since_start
        reset(username=username or None, ip=address or None)
        log_event(user=actor, obj_or_label=attempt, action=LogEntry.Action.DELETE,
                  what=f"lifted the sign-in lockout of {username or '(no username)'}",
                  details={"address": address, "failures": failures})
        unlocked.append(username)
    return unlocked
