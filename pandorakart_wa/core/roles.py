"""The four staff roles, and the one check of who may do what. Groups are created by a data
migration; each app grants its own permissions to them in a later migration (see `grant`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import PermissionDenied

from pandorakart_wa.core.audit import User, is_system

COMPLIANCE_OFFICER = "Compliance officer"
SUPPORT_AGENT = "Support agent"
AUDITOR = "Auditor"
MARKETING = "Marketing"
ROLES = (COMPLIANCE_OFFICER, SUPPORT_AGENT, AUDITOR, MARKETING)


def grant(apps: Any, role: str, codenames: Iterable[tuple[str, str]]) -> None:
    """In a data migration: give `role` the permissions (app_label, codename).

    Permissions are created by a post_migrate signal, after migrations run; create any missing
    one here so the grant does not depend on the order of apps.
    """
    from django.contrib.auth.management import create_permissions

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    group, _ = Group.objects.get_or_create(name=role)
    for app_label, codename in codenames:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke(apps: Any, role: str, codenames: Iterable[tuple[str, str]]) -> None:
    """In a data migration: take the permissions (app_label, codename) away from `role`."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=role).first()
    if group is None:
        return
    for app_label, codename in codenames:
        permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if permission is not None:
            group.permissions.remove(permission)


# --- Who may do what (the services' one check) ---------------------------------------------------


def may(user: User, permission: str) -> bool:
    """System users (tasks, webhooks, commands; they cannot sign in) may; staff need `permission`
    and an active account."""
    if is_system(user):
        return True
    return bool(isinstance(user, PermissionsMixin) and user.is_active and user.has_perm(permission))


def authorise(user: User, permission: str, action: str) -> None:
    """PermissionDenied, naming the user and the action, unless `may(user, permission)`."""
    if not may(user, permission):
        raise PermissionDenied(f"{user.get_username()} may not {action}.")
