"""The global audit screen: django-auditlog's LogEntry, read-only, filterable by actor, model,
object, date range and correlation id. Registered in pandorakart_wa/backoffice/admin/registry.py in place of
auditlog's own LogEntryAdmin; /admin/audit/ leads here.

Who may open it: whoever has `auditlog.view_logentry` (Compliance officer and Auditor, granted
in pandorakart_wa/migrations/0003_backoffice_roles.py). Nobody can add, change or delete an
entry, superusers included.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

from auditlog.mixins import LogEntryAdminMixin
from auditlog.models import LogEntry
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from pandorakart_wa.core.admin.generics import ModelAdmin
from pandorakart_wa.core.admin.history import (
    EMPTY,
    Related,
    access_summary,
    actor_name,
    readable_changes,
    short_value,
)
from pandorakart_wa.core.admin.labels import model_label, model_name
from pandorakart_wa.core.admin.mixins import ReadOnlyAdminMixin
from pandorakart_wa.core.audit import (
    API_KEY_USER_PREFIX,
    META_WEBHOOK,
    SYSTEM_USER_PREFIX,
)

_MAX_SHOWN_CHANGES = 4



class ActorKindFilter(admin.SimpleListFilter):
    """Staff user, storefront API key, Meta webhook, system task (audit.py's actor users)."""

    title = "actor kind"
    parameter_name = "actor_kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("staff", "Staff user"),
            ("api_key", "Storefront API key"),
            ("meta", "Meta webhook"),
            ("system", "System task / command"),
            ("none", "No actor"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        meta = f"{SYSTEM_USER_PREFIX}{META_WEBHOOK}"
        if value == "staff":
            return queryset.filter(actor__isnull=False).exclude(
                Q(actor__username__startswith=SYSTEM_USER_PREFIX) | Q(actor__username__startswith=API_KEY_USER_PREFIX)
            )
        if value == "api_key":
            return queryset.filter(actor__username__startswith=API_KEY_USER_PREFIX)
        if value == "meta":
            return queryset.filter(actor__username=meta)
        if value == "system":
            return queryset.filter(actor__username__startswith=SYSTEM_USER_PREFIX).exclude(actor__username=meta)
        if value == "none":
            return queryset.filter(actor__isnull=True)
        return queryset


class ActorFilter(admin.SimpleListFilter):
    """One actor: every user that appears as an actor in the trail."""

    title = "actor"
    parameter_name = "actor"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        rows = (
            LogEntry.objects.filter(actor__isnull=False)
            .values_list("actor_id", "actor__username")
            .distinct()
            .order_by("actor__username")
        )
        return [(str(pk), username) for pk, username in rows]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            raise IncorrectLookupParameters("actor must be a user id")
        return queryset.filter(actor_id=int(value))


class ModelFilter(admin.SimpleListFilter):
    """The model (content type) of the changed object; the parameter name is auditlog's own."""

    title = "model"
    parameter_name = "resource_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        ids = LogEntry.objects.values_list("content_type_id", flat=True).distinct().order_by()
        types = ContentType.objects.filter(pk__in=list(ids))
        return sorted(((str(ct.pk), model_label(ct)) for ct in types), key=lambda item: item[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            raise IncorrectLookupParameters("resource_type must be a content type id")
        return queryset.filter(content_type_id=int(value))


class InputFilter(admin.ListFilter):
    """A sidebar filter with free-text or date inputs instead of a list of choices."""

    template = "admin/audit/input_filter.html"
    inputs: tuple[tuple[str, str, str], ...] = ()  # (parameter, label, input type)

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: Any) -> None:
        super().__init__(request, params, model, model_admin)
        for name, _label, _type in self.inputs:
            if name in params:
                value = params.pop(name)
                value = value[-1] if isinstance(value, list) else value
                if str(value).strip():
                    self.used_parameters[name] = str(value).strip()

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return [name for name, _label, _type in self.inputs]

    def value(self, name: str) -> str | None:
        value = self.used_parameters.get(name)
        return str(value) if value is not None else None

    def choices(self, changelist: ChangeList) -> Iterator[dict[str, Any]]:
        own = {name for name, _label, _type in self.inputs}
        hidden = [(k, v) for k, v in changelist.params.items() if k not in own and k != "p"]
        hidden = [(k, v[-1] if isinstance(v, list) else v) for k, v in hidden]
        yield {
            "hidden": hidden,
            "fields": [
                {"name": name, "label": label, "type": kind, "value": self.value(name) or ""}
                for name, label, kind in self.inputs
            ],
            "clear_url": changelist.get_query_string(remove=list(own)) if self.used_parameters else "",
        }


class ObjectFilter(InputFilter):
    title = "object"
    inputs = (("object_pk", "Object id", "text"),)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value("object_pk")
        return queryset.filter(object_pk=value) if value else queryset


class CorrelationIdFilter(InputFilter):
    title = "correlation id"
    inputs = (("cid", "Correlation id", "text"),)  # auditlog's own parameter: its cid links work

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value("cid")
        return queryset.filter(cid=value) if value else queryset


class DateRangeFilter(InputFilter):
    """From/to dates, inclusive, in the staff time zone (settings.TIME_ZONE)."""

    title = "date"
    inputs = (("date_from", "From", "date"), ("date_to", "To (inclusive)", "date"))

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        start, end = self._day("date_from"), self._day("date_to")
        if start is not None:
            queryset = queryset.filter(timestamp__gte=self._midnight(start))
        if end is not None:
            queryset = queryset.filter(timestamp__lt=self._midnight(end + timedelta(days=1)))
        return queryset

    def _day(self, name: str) -> date | None:
        value = self.value(name)
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise IncorrectLookupParameters(f"{name} must be a date (YYYY-MM-DD)") from exc

    @staticmethod
    def _midnight(day: date) -> datetime:
        return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


class AuditLogAdmin(ReadOnlyAdminMixin, LogEntryAdminMixin, ModelAdmin[LogEntry]):  # type: ignore[misc]  # auditlog is untyped
    """The global audit screen. Read-only for everyone."""

    date_hierarchy = "timestamp"
    list_select_related = ["content_type", "actor"]
    list_display = ["created", "actor_display", "action", "resource_url", "changes_summary", "cid_url"]
    list_filter = [ActorKindFilter, ActorFilter, ModelFilter, ObjectFilter, DateRangeFilter, CorrelationIdFilter, "action"]
    search_fields = ["object_repr", "object_pk", "cid", "actor__username"]
    search_help_text = "Search the object's name or id, the correlation id or the actor's username."
    list_per_page = 50
    show_full_result_count = False  # the trail grows without bound: no COUNT(*) of all of it
    readonly_fields = ["created", "actor_display", "resource_url", "action", "cid", "remote_addr", "msg", "details"]
    fieldsets = [
        (None, {"fields": ["created", "actor_display", "resource_url", "cid", "remote_addr"]}),
        ("Changes", {"fields": ["action", "msg", "details"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        self.request = request  # LogEntryAdminMixin.cid_url builds links from the request
        self._related = Related()  # related objects named once per page
        return super().get_queryset(request)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}

    @admin.display(description="Actor", ordering="actor__username")
    def actor_display(self, obj: LogEntry) -> str:
        return actor_name(obj.actor)

    @admin.display(description="Object")
    def resource_url(self, obj: LogEntry) -> str:
        """The object by its model's name and its own ("Complaint CMP-2026-000001"), linked to its page."""
        label = format_html("{} <span class='quiet'>{}</span>", obj.object_repr or EMPTY, model_name(obj.content_type))
        try:
            args = [obj.object_pk] if obj.object_id is None else [obj.object_id]
            if not args[0]:
                return label
            link = reverse(f"admin:{obj.content_type.app_label}_{obj.content_type.model}_change", args=args)
        except NoReverseMatch:
            return label
        return format_html('<a href="{}">{}</a>', link, label)

    @admin.display(description="Correlation id")
    def cid_url(self, obj: LogEntry) -> str:
        """The first 8 characters (enough to tell entries apart), linked to the entries sharing it."""
        if not obj.cid:
            return EMPTY
        return format_html('<a href="{}" title="{}" class="audit-cid">{}…</a>',
                           self._add_query_parameter("cid", obj.cid), obj.cid, obj.cid[:8])

    @admin.display(description="Changes")
    def changes_summary(self, obj: LogEntry) -> str:
        """`field: old → new` for the first few fields; what was accessed for an ACCESS entry."""
        what, _facts = access_summary(obj)
        if obj.action == LogEntry.Action.ACCESS:
            return format_html("<strong>{}</strong>", short_value(what))
        if obj.action == LogEntry.Action.DELETE:
            return format_html("deleted{}", f": {what}" if what else "")
        rows = readable_changes(obj, self._related)
        shown = [(label, f"{before} → {after}" if before else after) for label, before, after in rows[:_MAX_SHOWN_CHANGES]]
        more = len(rows) - len(shown)
        summary = format_html_join("; ", "{}: {}", shown)
        if what:
            summary = format_html("<strong>{}</strong>{}{}", what, "; " if shown else "", summary)
        return format_html("{} (+{} more)", summary, more) if more > 0 else summary

    @admin.display(description="Changes")
    def msg(self, obj: LogEntry) -> str:
        rows = readable_changes(obj)
        if not rows:
            what, _ = access_summary(obj)
            return what or EMPTY
        return format_html(
            "<table><tr><th>Field</th><th>Before</th><th>After</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description="Details")
    def details(self, obj: LogEntry) -> str:
        what, facts = access_summary(obj)
        if not what and not facts:
            return EMPTY
        return format_html("{}{}", format_html("<div><strong>{}</strong></div>", what) if what else "",
                           format_html_join("", "<div>{}: {}</div>", facts))
