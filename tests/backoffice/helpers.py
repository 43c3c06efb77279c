"""Sign staff in for tests: a user in a role with a confirmed TOTP device, an OTP-verified client."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from pandorakart_wa.backoffice.admin.accounts import totp_device_ensure

STAFF_PASSWORD = "correct-horse-battery-staple-42"


def make_staff(username: str, role: str | None, *, password: str = STAFF_PASSWORD, device: bool = True, **extra: Any) -> Any:
    """A staff user in `role` (a group name, or None for no group) with a TOTP device."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(
        username=username, password=password, email=f"{username}@pandorakart.com", is_staff=True, **extra
    )
    if role is not None:
        if not Group.objects.filter(name=role).exists():
            restore_roles()  # a transactional test flushed the migrated groups
        user.groups.add(Group.objects.get(name=role))
    if device:
        totp_device_ensure(user=user)
    return user


def current_code(device: TOTPDevice, *, offset_steps: int = 0) -> str:
    """The TOTP code the user's app shows now (offset_steps=+1: the next one)."""
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset_steps)
    return f"{value:0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    """A code that is valid in no step within the device's tolerance."""
    valid = {current_code(device, offset_steps=s) for s in range(-2, 3)}
    return next(c for c in (f"{n:06d}" for n in range(0, 1_000_000, 7919)) if c not in valid)


def otp_force_login(client: Client, user: Any) -> Client:
    """`client.force_login(user)` plus a session verified by the user's TOTP device (creating a
    device if needed): what signing in with password + code gives."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or totp_device_ensure(user=user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


# The role groups and their permissions as the migrations left them, taken once when the test
# database is set up (tests/conftest.py: django_db_setup). A transactional test (live_server,
# the browser tests) ends with a flush that empties every table; post_migrate then recreates
# content types and permissions, but not the groups the data migrations made.
ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {}


def snapshot_roles() -> None:
    ROLE_PERMISSIONS.clear()
    for group in Group.objects.prefetch_related("permissions__content_type"):
        ROLE_PERMISSIONS[group.name] = sorted(
            (perm.content_type.app_label, perm.codename) for perm in group.permissions.all()
        )


def restore_roles() -> None:
    """Recreate the role groups with their migrated permissions (after a flush)."""
    from django.contrib.auth.models import Permission

    if not ROLE_PERMISSIONS:
        raise RuntimeError(
            "No role groups were found when the test database was set up (a --reuse-db database "
            "emptied by a browser test?): run pytest with --create-db."
        )
    for name, grants in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        if group.permissions.exists():
            continue
        wanted = {f"{app_label}.{codename}" for app_label, codename in grants}
        perms = [
            perm
            for perm in Permission.objects.select_related("content_type")
            if f"{perm.content_type.app_label}.{perm.codename}" in wanted
        ]
        group.permissions.set(perms)
