"""Mixins for every app's ModelAdmins: the object's audit trail.

Usage in <app>/admin.py (the mixin goes first, before admin.ModelAdmin):

    from pandorakart_wa.core.admin.mixins import AuditTrailMixin

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

import re
from typing import Any

from auditlog.mixins import AuditlogHistoryAdminMixin
from django.contrib import messages
from django.contrib.admin import SimpleListFilter
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse

from pandorakart_wa.core.admin.history import Related, access_summary, actor_name, readable_changes
from pandorakart_wa.core.phones import InvalidPhoneNumber, normalize_phone

DIGEST = re.compile(r"[0-9a-f]{64}")
# One rule for every reveal of a customer's data: a contact's number, a complaint's contact
# details, the evidence pack's number, a webhook's raw body. The permission, a POST, an ACCESS entry.
REVEAL_PERMISSION = "consent.reveal_phone"


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


class AuditTrailMixin(AuditlogHistoryAdminMixin):  # type: ignore[misc]  # auditlog is untyped
    """Per-object audit history (view + changelist column) for a ModelAdmin."""

    show_auditlog_history_link = True
    auditlog_history_per_page = 50

    def auditlog_link(self, obj: Any) -> str:
        # A row whose primary key is empty (an API key saved by an old seed) has no page of its
        # own: no link, rather than a NoReverseMatch that takes the whole list down.
        if obj.pk in (None, ""):
            return ""
        return str(super().auditlog_link(obj))

    auditlog_link.short_description = "Audit log"  # type: ignore[attr-defined]

    def auditlog_history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        """The object's trail as staff read it: who, when (India time), what changed, with
        related objects by name ("Resolved by: — → officer", not "None → 9"), masked personal
        data as "not shown", and each reveal or export by what was revealed."""
        from auditlog.models import LogEntry
        from django.contrib.admin.views.main import PAGE_VAR
        from django.core.exceptions import PermissionDenied
        from django.template.response import TemplateResponse
        from django.utils.text import capfirst


        # django-auditlog decodes the id with urllib's unquote, not the admin's: a primary key
        # with "_" or "." (API keys: "prefix.sha512_…") would not be found.
        object_id = unquote(object_id)
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("No such object.")
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        entries = LogEntry.objects.get_for_object(obj).select_related("actor").order_by("-timestamp", "-id")
        paginator = self.get_paginator(request, entries, self.auditlog_history_per_page)
        page = paginator.get_page(request.GET.get(PAGE_VAR, 1))
        related = Related()
        rows = []
        for entry in page:
            what, facts = access_summary(entry)
            rows.append({"entry": entry, "actor": actor_name(entry.actor), "what": what, "facts": facts,
                         "changes": readable_changes(entry, related)})
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "title": f"Audit trail: {obj}",
            "module_name": str(capfirst(opts.verbose_name_plural)),
            "object": obj,
            "opts": opts,
            "rows": rows,
            "page_obj": page,
            "page_var": PAGE_VAR,
            "pagination_required": paginator.count > self.auditlog_history_per_page,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/audit/object_history.html", context)


# --- Finding a customer's rows without their number in a URL --------------------------------
# "Find by number" POSTs the number (pandorakart_wa/backoffice/admin/customer.py: find_view) and answers
# with a list filtered by the number's keyed digest, which reveals nothing.


def looks_like_phone(term: str) -> bool:
    """A search term that is a phone number (and must not travel in a URL)."""
    try:
        normalize_phone(term)
    except InvalidPhoneNumber:
        return False
    return True


class PhoneDigestFilter(SimpleListFilter):
    """`?digest=<hex>`: the rows of one customer, by the keyed digest of their number (what
    "Find by number" leads to). Not shown in the sidebar; the list says whose rows they are."""

    title = "customer"
    parameter_name = "digest"
    field = "phone_digest"

    template = "admin/customer/digest_filter.html"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return []

    def has_output(self) -> bool:
        return True  # the changelist applies only the filters that have output

    def choices(self, changelist: Any) -> Any:
        yield {"active": bool(self.value()), "clear_url": changelist.get_query_string(remove=[self.parameter_name])}

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        if not DIGEST.fullmatch(value):
            raise IncorrectLookupParameters("digest must be 64 hexadecimal characters")
        return queryset.filter(**{self.field: value})


class MessageDigestFilter(PhoneDigestFilter):
    field = "contact__phone_digest"


def refuse_number_in_url(request: HttpRequest, queryset: QuerySet[Any], term: str) -> tuple[QuerySet[Any], bool] | None:
    """The changelists' GET search must not carry numbers: answer nothing, say how to search."""
    if not looks_like_phone(term):
        return None
    messages.warning(
        request,
        "Numbers are not searched from the address bar (it would keep the number in logs and "
        "history): use “Find by number” above the list.",
    )
    return queryset.none(), False


__all__ = [
    "REVEAL_PERMISSION", "AuditTrailMixin", "MessageDigestFilter", "PhoneDigestFilter", "ReadOnlyAdminMixin",
    "refuse_number_in_url",
]
