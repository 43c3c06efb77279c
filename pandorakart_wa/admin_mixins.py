"""Mixins for every app's ModelAdmins: the object's audit trail.

Usage in <app>/admin.py (the mixin goes first, before admin.ModelAdmin):

    from pandorakart_wa.admin_mixins import AuditTrailMixin

    @admin.register(Complaint)
    class ComplaintAdmin(AuditTrailMixin, admin.ModelAdmin):
        ...

What it adds (django-auditlog's AuditlogHistoryAdminMixin):
- an "Audit trail" button on the object's page (templates/admin/change_form.html) opening
  /admin/<app>/<model>/<pk>/auditlog/: every audit entry of that object, newest first, with
  actor, correlation id and the (masked) changes. Whoever may view the object may view its
  trail (`has_view_permission`); the global screen (/admin/audit/) needs auditlog.view_logentry.
- an "Audit log" column in the changelist (set `show_auditlog_history_link = False` to hide it).

The model must be registered with django-auditlog, with personal data masked:
    auditlog.register(Model, mask_fields=["phone", "email"])
Object pages of models whose admin lacks the mixin still get an "Audit trail" button for staff
with auditlog.view_logentry: the global screen filtered to that object.
"""

from __future__ import annotations

from typing import Any

from auditlog.mixins import AuditlogHistoryAdminMixin
from django.contrib.admin.utils import unquote
from django.http import Http404, HttpRequest, HttpResponse


class ReadOnlyAdminMixin:
    """Nobody adds, changes or deletes these rows in the admin, superusers included: ledgers,
    event rows and records written only by services (put it before admin.ModelAdmin, or use it
    on an inline)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AuditTrailMixin(AuditlogHistoryAdminMixin):
    """Per-object audit history (view + changelist column) for a ModelAdmin."""

    show_auditlog_history_link = True
    auditlog_history_per_page = 50

    def auditlog_history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        # django-auditlog decodes the id with urllib's unquote, not the admin's: a primary key
        # with "_" or "." (API keys: "prefix.sha512_…") would not be found.
        object_id = unquote(object_id)
        if self.get_object(request, object_id) is None:  # type: ignore[attr-defined]
            raise Http404("No such object.")
        return super().auditlog_history_view(request, object_id, extra_context)


__all__ = ["AuditTrailMixin", "ReadOnlyAdminMixin"]
