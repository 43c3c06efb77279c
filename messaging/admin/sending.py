"""Staff screens for sending: messages (masked, with their status timeline), campaigns with
progress and controls, and the sending policy with the stop-all switch. Every action calls a
service; nothing here writes a model directly."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from messaging import campaigns
from messaging.control import sending_policy_update, sending_restart, sending_stop_all
from messaging.models import Campaign, Message, MessageEvent, SendingPolicy
from messaging.selectors import REASON_WORDS, template_send_variable_count, usable_templates
from messaging.wording import variable_count_error
from pandorakart_wa.core.admin.generics import ModelAdmin, ModelForm, TabularInline
from pandorakart_wa.core.admin.mixins import AuditTrailMixin, MessageDigestFilter, ReadOnlyAdminMixin, refuse_number_in_url
from pandorakart_wa.core.phones import mask_phone


class MessageEventInline(ReadOnlyAdminMixin, TabularInline[MessageEvent, Message]):
    model = MessageEvent
    extra = 0
    can_delete = False
    fields = ("at", "status", "source", "detail")
    readonly_fields = fields
    ordering = ("at", "id")
    verbose_name_plural = "Status timeline"


@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, ModelAdmin[Message]):
    """Read-only: messages change only through the pipeline and Meta's webhooks."""

    list_display = ("created_at", "recipient", "template", "purpose", "kind_column", "status_column", "error_code",
                    "campaign")
    list_filter = (MessageDigestFilter, "status", "purpose", "kind", "reason", "error_code", "created_at", "template",
                   "campaign")
    list_select_related = ("contact", "template", "campaign")
    search_fields = ("wamid", "=id", "error_title")
    search_help_text = "A message id, Meta's wamid or an error. A customer's messages by number: “Find by number”."
    date_hierarchy = "created_at"
    inlines = (MessageEventInline,)
    fields = ("id", "customer", "template", "revision", "language", "variables", "text", "purpose", "kind",
              "campaign", "status", "reason", "error_code", "error_title", "wamid", "attempts", "not_before",
              "claimed_at", "sent_at", "pricing_billable", "pricing_category", "pricing_type", "pricing_model",
              "priced_at", "created_by", "idempotency_key", "created_at", "updated_at")
    readonly_fields = fields
    show_full_result_count = False  # the table is large: no COUNT(*) on every page
    change_list_template = "admin/messaging/message_change_list.html"

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Message], search_term: str) -> Any:
        refused = refuse_number_in_url(request, queryset, search_term.strip())
        if refused is not None:
            return refused
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="To")
    def recipient(self, obj: Message) -> str:
        return mask_phone(obj.contact.phone) if obj.contact.phone else "(erased)"

    @admin.display(description="Customer")
    def customer(self, obj: Message) -> str:
        """The customer page (consent, messages both ways, complaints), reached from the message."""
        url = reverse("admin:consent_contact_change", args=[obj.contact_id])
        return format_html('<a href="{}" id="message-customer">{}</a> (customer page)', url, self.recipient(obj))

    @admin.display(description="Kind", ordering="kind")
    def kind_column(self, obj: Message) -> str:
        return obj.get_kind_display().split(":")[0].split(" (")[0]

    @admin.display(description="Status", ordering="status")
    def status_column(self, obj: Message) -> str:
        """The status, with the policy code of a refusal or a wait (e.g. suppressed: opted_out)
        in one column; the code explained on hover."""
        if obj.reason:
            return format_html('{} <code title="{}">{}</code>', obj.get_status_display().split(" (")[0],
                               REASON_WORDS.get(obj.reason, obj.reason), obj.reason)
        return obj.get_status_display()


class CampaignForm(ModelForm[Campaign]):
    variables_text = forms.CharField(
        label="Variables", required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line: the body's {{1}}, {{2}}... (the same for every recipient).",
    )

    class Meta:
        model = Campaign
        fields = ("name", "template", "audience", "audience_file", "scheduled_for", "reason")

    user: Any = None  # the staff member creating it (CampaignAdmin.get_form sets it)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = usable_templates()  # type: ignore[attr-defined]
        self.fields["audience_file"].help_text = "CSV of phone numbers: first column, or a column named phone."
        if "audience" in self.fields and not campaigns.may_send_legal_notice(self.user):
            # Everyone holding any consent is for legal notices, a compliance officer's decision.
            self.fields["audience"].choices = [  # type: ignore[attr-defined]
                (value, label) for value, label in Campaign.Audience.choices if value != Campaign.Audience.ANY_CONSENT
            ]

    def clean(self) -> dict[str, Any]:
        """The service's refusals as field errors, before anything is saved (a refusal raised
        while saving would be a server error)."""
        data = super().clean() or {}
        template, audience = data.get("template"), data.get("audience")
        if audience == Campaign.Audience.ANY_CONSENT and not campaigns.may_send_legal_notice(self.user):
            self.add_error("audience", "Only a compliance officer sends a legal notice to everyone holding any consent.")
        if audience == Campaign.Audience.CSV and not data.get("audience_file"):
            self.add_error("audience_file", "A CSV audience needs a file of phone numbers.")
        if template is not None:
            variables = [v.strip() for v in (data.get("variables_text") or "").splitlines() if v.strip()]
            expected = template_send_variable_count(template)
            if expected != len(variables):
                self.add_error("variables_text", variable_count_error(expected, len(variables)))
        return data


@admin.register(Campaign)
class CampaignAdmin(AuditTrailMixin, ModelAdmin[Campaign]):
    form = CampaignForm
    list_display = ("name", "template", "audience", "status", "progress", "queued_count", "skipped_summary",
                    "scheduled_for", "created_at")
    list_filter = ("status", "audience")
    list_select_related = ("template",)
    search_fields = ("name", "reason")
    actions = ("start", "pause", "resume", "cancel")
    readonly_fields = ("status", "progress", "skipped_summary", "audience_size", "queued_count", "started_at",
                       "finished_at", "created_by", "error")

    def get_form(self, request: HttpRequest, obj: Campaign | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"user": request.user})

    def get_fieldsets(self, request: HttpRequest, obj: Campaign | None = None) -> Any:
        editable = ("name", "template", "audience", "audience_file", "variables_text", "scheduled_for", "reason")
        if obj is None:
            return [(None, {"fields": editable})]
        return [(None, {"fields": ("name", "template", "audience", "reason", "status", "progress",
                                   "skipped_summary", "audience_size", "queued_count", "started_at",
                                   "finished_at", "created_by", "error")})]

    def has_change_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        # a campaign is created, then driven by actions; its definition never changes afterwards
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        if change:
            raise PermissionDenied
        data = form.cleaned_data
        try:
            created = campaigns.campaign_create(
                name=data["name"], template=data["template"], audience=data["audience"],
                variables=[v.strip() for v in (data.get("variables_text") or "").splitlines() if v.strip()],
                audience_file=data.get("audience_file"), scheduled_for=data.get("scheduled_for"),
                created_by=request.user, reason=data.get("reason") or "",
            )
        except campaigns.CampaignError as exc:
            raise forms.ValidationError(str(exc)) from exc
        obj.pk = created.pk
        obj.refresh_from_db()

    @admin.display(description="Progress")
    def progress(self, obj: Campaign) -> str:
        counts = campaigns.campaign_progress(obj)
        shown = [(status, n) for status, n in counts.items() if n]
        return format_html_join(", ", "{}: {}", shown) if shown else "—"

    @admin.display(description="Skipped")
    def skipped_summary(self, obj: Campaign) -> str:
        return format_html_join(", ", "{}: {}", sorted((obj.skipped or {}).items())) if obj.skipped else "—"

    def _drive(self, request: HttpRequest, queryset: QuerySet[Campaign], service: Any, verb: str) -> None:
        if not request.user.has_perm("messaging.run_campaign"):
            raise PermissionDenied
        for campaign in queryset:
            try:
                service(campaign=campaign)
            except campaigns.CampaignError as exc:
                self.message_user(request, f"{campaign}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{campaign}: {verb}.", messages.SUCCESS)

    @admin.action(description="Start the selected campaigns", permissions=["run"])
    def start(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._drive(request, queryset, campaigns.campaign_start, "started")

    @admin.action(description="Pause", permissions=["run"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._drive(request, queryset, campaigns.campaign_pause, "paused")

    @admin.action(description="Resume", permissions=["run"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._drive(request, queryset, campaigns.campaign_resume, "resumed")

    @admin.action(description="Cancel (nothing more is sent)", permissions=["run"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._drive(request, queryset, campaigns.campaign_cancel, "cancelled")

    def has_run_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("messaging.run_campaign"))


class SendingPolicyForm(ModelForm[SendingPolicy]):
    class Meta:
        model = SendingPolicy
        fields = ("marketing_cap_count", "marketing_cap_days", "quiet_hours_start", "quiet_hours_end",
                  "quiet_hours_timezone")


@admin.register(SendingPolicy)
class SendingPolicyAdmin(AuditTrailMixin, ModelAdmin[SendingPolicy]):
    """One row: the marketing frequency cap, quiet hours, and the stop-all switch (an action)."""

    form = SendingPolicyForm
    list_display = ("__str__", "stop_state", "marketing_cap", "quiet_hours", "updated_at")
    readonly_fields = ("stop_state", "stop_all_reason", "stop_all_since")
    actions = ("stop_all", "restart")

    @admin.display(description="Sending")
    def stop_state(self, obj: SendingPolicy) -> str:
        if obj.stop_all:
            return format_html('<strong style="color:#ba2121">STOPPED</strong> since {}', obj.stop_all_since)
        return "running"

    @admin.display(description="Marketing cap")
    def marketing_cap(self, obj: SendingPolicy) -> str:
        return f"{obj.marketing_cap_count} per {obj.marketing_cap_days} days"

    @admin.display(description="Quiet hours")
    def quiet_hours(self, obj: SendingPolicy) -> str:
        return f"{obj.quiet_hours_start:%H:%M} to {obj.quiet_hours_end:%H:%M} ({obj.quiet_hours_timezone})"

    def save_model(self, request: HttpRequest, obj: SendingPolicy, form: Any, change: bool) -> None:
        sending_policy_update(changes={f: form.cleaned_data[f] for f in form.changed_data})

    def get_queryset(self, request: HttpRequest) -> QuerySet[SendingPolicy]:
        SendingPolicy.objects.get_or_create(pk=1)
        return super().get_queryset(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_stop_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("messaging.stop_all_sending"))

    @admin.action(description="STOP ALL SENDING now", permissions=["stop"])
    def stop_all(self, request: HttpRequest, queryset: QuerySet[SendingPolicy]) -> None:
        sending_stop_all(reason=f"Stopped by {request.user.get_username()} in the admin.", source="staff")
        self.message_user(request, "All sending is stopped. Queued messages are kept.", messages.WARNING)

    @admin.action(description="Restart sending", permissions=["stop"])
    def restart(self, request: HttpRequest, queryset: QuerySet[SendingPolicy]) -> None:
        sending_restart(note=f"Restarted by {request.user.get_username()} in the admin.")
        self.message_user(request, "Sending restarted: held messages go out now.", messages.SUCCESS)

