"""Admin of the project-wide models, staff accounts and the global audit screen.

Also registers the staff-facing core and auth models with django-auditlog (this module is
imported by the staff admin app's ready(), backoffice/admin/apps.py, in every process: web, worker and
commands alike).
"""

from __future__ import annotations

import contextlib
from typing import Any

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework_api_key.models import APIKey

from pandorakart_wa.backoffice.admin import customer  # noqa: F401 (the contact's page as the one customer page)
from pandorakart_wa.backoffice.admin.accounts import PERM_UNLOCK, staff_signin_unlock
from pandorakart_wa.backoffice.admin.audit import AuditLogAdmin
from pandorakart_wa.core.admin.generics import ModelAdmin
from pandorakart_wa.core.admin.mixins import AuditTrailMixin
from pandorakart_wa.core.models import StorefrontApiKey
from pandorakart_wa.webhooks import admin as webhooks_admin  # noqa: F401 (Meta's webhook events and items)
from pandorakart_wa.webhooks.models import WebhookItem

User = get_user_model()

# --- The audit trail of staff accounts and API keys ----------------------------------------

auditlog.register(
    User,
    exclude_fields=["password", "last_login"],  # no hash in the trail; sign-ins are not changes
    mask_fields=["email"],
    m2m_fields={"groups", "user_permissions"},
)
auditlog.register(Group, m2m_fields={"permissions"})
auditlog.register(StorefrontApiKey, exclude_fields=["hashed_key"])
# Staff replays of dead-lettered webhook items (the pipeline itself writes with update()).
auditlog.register(WebhookItem, include_fields=["state", "attempts", "note"])
# Enrolment and removal of authenticators; never the key, nor the per-sign-in counters.
auditlog.register(TOTPDevice, include_fields=["user", "name", "confirmed"])


def _unregister(model: Any) -> None:
    with contextlib.suppress(NotRegistered):
        admin.site.unregister(model)


# --- The global audit screen (replaces django-auditlog's own LogEntryAdmin) ----------------

_unregister(LogEntry)
admin.site.register(LogEntry, AuditLogAdmin)

# --- Staff accounts ---------------------------------------------------------------------

_unregister(User)
_unregister(Group)


@admin.register(User)
class StaffUserAdmin(AuditTrailMixin, UserAdmin):  # type: ignore[type-arg]
    list_display = ["username", "email", "first_name", "last_name", "is_staff", "is_active", "role_names"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]

    @admin.display(description="Roles")
    def role_names(self, obj: Any) -> str:
        return ", ".join(group.name for group in obj.groups.all())

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("groups")


@admin.register(Group)
class RoleAdmin(AuditTrailMixin, GroupAdmin):
    pass


# --- Storefront API keys ---------------------------------------------------------------------

_unregister(APIKey)  # rest_framework_api_key's own model is unused: keys are StorefrontApiKey


@admin.register(StorefrontApiKey)
class StorefrontApiKeyAdmin(AuditTrailMixin, ModelAdmin[StorefrontApiKey]):
    """Keys are created by `manage.py create_api_key` (the plain key is shown once); here they
    are renamed, given an expiry or revoked."""

    list_display = ["name", "prefix", "scopes", "created", "expiry_date", "revoked"]
    list_filter = ["revoked"]
    search_fields = ["name", "prefix"]
    fields = ["name", "prefix", "scopes", "actor", "created", "expiry_date", "revoked"]
    readonly_fields = ["prefix", "scopes", "actor", "created"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the key's actor stays in the audit trail



# --- Sign-in lockouts: officers lift them here (the lockout page tells staff to ask them) -------

_unregister(AccessAttempt)


@admin.register(AccessAttempt)
class SignInAttemptAdmin(AccessAttemptAdmin):  # type: ignore[misc]
    """django-axes's attempts, with an audited "Unlock" for officers; never deleted by hand."""

    actions = ["unlock"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # "Unlock" is the only way, and it is audited

    def has_unlock_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(PERM_UNLOCK))

    @admin.action(description="Unlock: let them sign in again (recorded in the audit trail)", permissions=["unlock"])
    def unlock(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        try:
            names = staff_signin_unlock(attempt_ids=queryset.values_list("pk", flat=True), actor=request.user)
        except PermissionDenied as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Unlocked: {', '.join(n or '(no username)' for n in names) or 'nothing'}.",
                          messages.SUCCESS)
