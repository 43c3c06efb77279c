"""Staff screens of Meta's webhooks: events as received, their items, the dead letters.

Nothing here shows a customer's number, name or text without a reveal: items show the masked
number and what was done; the raw body (every customer of the batch, in full) opens only for
staff with `consent.reveal_phone`, by POST, after an ACCESS entry in the audit trail, the
same rule as a contact's number. Dead-lettered items are replayed through the service.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from pandorakart_wa.core.admin.generics import ModelAdmin, TabularInline
from pandorakart_wa.core.admin.mixins import ReadOnlyAdminMixin
from pandorakart_wa.core.audit import log_access
from pandorakart_wa.core.correlation import get_correlation_id
from pandorakart_wa.core.fields import decrypt_bytes
from pandorakart_wa.core.phones import mask_phone, wa_id_e164
from pandorakart_wa.core.timefmt import staff_time
from pandorakart_wa.webhooks.models import WebhookEvent, WebhookItem
from pandorakart_wa.webhooks.services import webhooks_replay

REVEAL_PERMISSION = "consent.reveal_phone"  # one rule for every reveal of a customer's data


def _customer(item: WebhookItem) -> str:
    payload = item.data
    e164 = wa_id_e164(payload.get("wa_id"))
    if e164:
        return mask_phone(e164)
    return "BSUID only" if payload.get("user_id") else "-"


class WebhookItemInline(ReadOnlyAdminMixin, TabularInline[WebhookItem, WebhookEvent]):
    model = WebhookItem
    fields = ("position", "kind", "customer", "state", "opt_out", "in_scope", "occurred_at", "note", "attempts")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    ordering = ("position",)

    @admin.display(description="Customer")
    def customer(self, obj: WebhookItem) -> str:
        return _customer(obj)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, ModelAdmin[WebhookEvent]):
    """Meta's POSTs as received: read-only evidence, the body behind a reveal."""

    list_display = ["received_at", "source", "fields", "item_count", "split_at", "processed_at", "short_error"]
    list_filter = ["source", "received_at"]
    date_hierarchy = "received_at"
    show_full_result_count = False
    fields = ("received_at", "source", "fields", "body_size", "item_count", "split_at", "split_attempts",
              "processed_at", "error", "redacted_at", "body")
    readonly_fields = fields
    inlines = [WebhookItemInline]
    change_form_template = "admin/webhooks/event_change_form.html"

    @admin.display(description="Problem")
    def short_error(self, obj: WebhookEvent) -> str:
        return (obj.error[:80] + "…") if len(obj.error) > 80 else obj.error

    @admin.display(description="Raw body")
    def body(self, obj: WebhookEvent) -> str:
        if obj.body_token is None:
            if obj.redacted_at:
                return (f"Redacted on {staff_time(obj.redacted_at)} (retention after RETENTION_WEBHOOK_DAYS, or an "
                        "erasure); the parsed items below keep their own copy.")
            return "-"
        return "Holds customers' numbers and texts: use “Reveal raw body” (recorded in the audit trail)."

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        may_reveal = request.user.has_perm(REVEAL_PERMISSION)
        extra = {**(extra_context or {}), "may_reveal": may_reveal,
                 "reveal_url": reverse("admin:core_webhookevent_reveal", args=[object_id]) if may_reveal else "",
                 "reveal_label": "Reveal raw body"}
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list[URLPattern]:
        urls: list[URLPattern] = [
            path("<int:event_id>/reveal/", self.admin_site.admin_view(self.reveal_view), name="core_webhookevent_reveal"),
        ]
        return urls + super().get_urls()

    def reveal_view(self, request: HttpRequest, event_id: int) -> HttpResponse:
        """The raw body once, after recording who saw it (POST only: no prefetching)."""
        if request.method != "POST" or not request.user.has_perm(REVEAL_PERMISSION):
            raise PermissionDenied
        event = get_object_or_404(WebhookEvent, pk=event_id)
        if event.body_token is None:
            messages.warning(request, "This event's body was redacted.")
            text = ""
        else:
            raw = decrypt_bytes(event.body_token)
            try:
                text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
            except (ValueError, RecursionError):
                text = raw.decode("utf-8", "replace")
        entry = log_access(user=request.user, obj_or_label=event, what="revealed a webhook's raw body")  # type: ignore[arg-type]
        return TemplateResponse(request, "admin/webhooks/reveal.html", {
            **self.admin_site.each_context(request), "title": f"Raw body of webhook event {event.pk}",
            "event": event, "body": text, "correlation_id": entry.cid or get_correlation_id(),
            "opts": WebhookEvent._meta,
        })


@admin.register(WebhookItem)
class WebhookItemAdmin(ReadOnlyAdminMixin, ModelAdmin[WebhookItem]):
    """Each update Meta sent, and what was done with it; the dead letters, replayable."""

    list_display = ["received_at", "kind", "field", "customer", "state", "opt_out", "in_scope", "note", "attempts",
                    "error_line", "event_link"]
    list_filter = ["state", "kind", "opt_out", "in_scope", "received_at"]
    date_hierarchy = "received_at"
    show_full_result_count = False
    actions = ["replay"]
    fields = ("event_link", "position", "kind", "field", "customer", "state", "opt_out", "in_scope", "occurred_at",
              "received_at", "applied_at", "attempts", "next_attempt_at", "note", "last_error")
    readonly_fields = fields

    @admin.display(description="Customer")
    def customer(self, obj: WebhookItem) -> str:
        return _customer(obj)

    @admin.display(description="Error")
    def error_line(self, obj: WebhookItem) -> str:
        return obj.last_error.splitlines()[0][:100] if obj.last_error else ""

    @admin.display(description="Event")
    def event_link(self, obj: WebhookItem) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:core_webhookevent_change", args=[obj.event_id]),
                           obj.event_id)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("core.replay_webhookitem"))

    @admin.action(description="Replay (apply again, once)", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookItem]) -> None:
        report = webhooks_replay(item_ids=list(queryset.values_list("pk", flat=True)), include_failed=True,
                                 actor=request.user)
        level = messages.SUCCESS if not report.still_failing else messages.WARNING
        self.message_user(request, f"{report.replayed} replayed: {report.applied} applied, "
                                   f"{report.still_failing} still failing.", level)

