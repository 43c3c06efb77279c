"""Staff screens of the profile app. Every write goes through profile.services."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from pandorakart_wa.core.admin.generics import ModelAdmin, ModelForm
from pandorakart_wa.core.admin.mixins import ReadOnlyAdminMixin
from pandorakart_wa.core.timefmt import staff_time
from pandorakart_wa.whatsapp.errors import WhatsAppError
from profile.models import (
    BusinessProfile,
    ComplianceAlert,
    PolicyVersion,
    ProfileDrift,
    ProfileSyncRun,
    RegulatoryChange,
)
from profile.services.alerts import alert_acknowledge
from profile.services.business_profile import (
    meta_values,
    profile_drift_accept_theirs,
    profile_drift_keep_ours,
    profile_ensure,
    profile_sync,
    profile_update,
)
from profile.services.common import DEFAULT_POLICY_REVIEW_DAYS, PolicyImmutable, ProfileSyncBusy
from profile.services.policy import policy_draft_create, policy_draft_update, policy_notify, policy_review_record
from profile.services.publishing import policy_publish
from profile.services.regulatory import regulatory_change_save
from profile.validation import ABOUT_MAX, ADDRESS_MAX, DESCRIPTION_MAX, EDITABLE_FIELDS, profile_errors


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else (value or "(empty)")


# --- Business profile -----------------------------------------------------------------------


class BusinessProfileForm(ModelForm[BusinessProfile]):
    """Fields without max_length of their own: Meta's limits are checked once, by
    `profile_errors`, whose messages name the field and the limit."""

    name = forms.CharField(required=False)
    about = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                            help_text=f"1-{ABOUT_MAX} characters; shown under the name on WhatsApp.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}),
                                  help_text=f"At most {DESCRIPTION_MAX} characters.")
    address = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                              help_text=f"At most {ADDRESS_MAX} characters.")
    email = forms.CharField(required=False, help_text="At most 128 characters.")
    website_1 = forms.CharField(required=False, help_text="With http:// or https://, at most 256 characters.")
    website_2 = forms.CharField(required=False)
    phone = forms.CharField(required=False)
    support_email = forms.CharField(required=False)
    support_phone = forms.CharField(required=False)
    support_website = forms.CharField(required=False)

    class Meta:
        model = BusinessProfile
        fields = ["name", "about", "description", "address", "email", "vertical", "phone",
                  "support_email", "support_phone", "support_website"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        websites = list(self.instance.websites or []) if self.instance.pk else []
        for index, name in enumerate(("website_1", "website_2")):
            if index < len(websites):
                self.fields[name].initial = websites[index]

    def profile_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        values = {field: (data.get(field) or "").strip() for field in EDITABLE_FIELDS if field != "websites"}
        values["websites"] = [w.strip() for w in (data.get("website_1"), data.get("website_2")) if w and w.strip()]
        return values

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for field, problems in profile_errors(self.profile_values()).items():
            target = "website_1" if field == "websites" else field
            for problem in problems:
                self.add_error(target if target in self.fields else None, problem)
        return cleaned


@admin.register(BusinessProfile)
class BusinessProfileAdmin(ModelAdmin[BusinessProfile]):
    form = BusinessProfileForm
    change_form_template = "profile/admin/businessprofile_change_form.html"
    readonly_fields = ("revision", "updated_at", "updated_by", "sync_state")
    fieldsets = (
        ("Shown on WhatsApp", {"fields": ("name", "about", "description", "address", "email",
                                          "website_1", "website_2", "vertical", "phone")}),
        ("Support channels (published in the policy and the API)",
         {"fields": ("support_email", "support_phone", "support_website")}),
        ("Sync with Meta", {"fields": ("revision", "updated_at", "updated_by", "sync_state")}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not BusinessProfile.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_sync_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("business_profile.sync_businessprofile")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """One profile: the list goes straight to it (or to the add form before it exists)."""
        profile = BusinessProfile.objects.first()
        if profile is None:
            if self.has_add_permission(request):
                return HttpResponseRedirect(reverse("admin:business_profile_businessprofile_add"))
            return super().changelist_view(request, extra_context)
        return HttpResponseRedirect(reverse("admin:business_profile_businessprofile_change", args=[profile.pk]))

    def save_model(self, request: HttpRequest, obj: BusinessProfile, form: Any, change: bool) -> None:
        values = form.profile_values()
        try:
            if change:
                saved = profile_update(changes=values, actor=request.user)  # type: ignore[arg-type]
            else:
                saved, _ = profile_ensure(values=values, actor=request.user)  # type: ignore[arg-type]
        except ValidationError as exc:  # the form checked the same rules; a race is the only way here
            raise ValidationError(exc.messages) from exc
        obj.pk = saved.pk

    @admin.display(description="Sync state")
    def sync_state(self, obj: BusinessProfile) -> SafeString | str:
        if obj.pk is None:
            return "-"
        open_drifts = ProfileDrift.objects.filter(resolved_at__isnull=True)
        last = ProfileSyncRun.objects.exclude(result=ProfileSyncRun.Result.SKIPPED).first()
        pushed = obj.pushed_values or {}
        pending = [f for f, v in meta_values(obj).items() if pushed.get(f) != v] if obj.pushed_values else ["all"]
        drifts = format_html_join(
            "", '<li><a href="{}">{}</a>: Meta shows {}</li>',
            ((reverse("admin:business_profile_profiledrift_change", args=[d.pk]), d.field, _show(d.theirs))
             for d in open_drifts),
        )
        return format_html(
            "Last pushed: {} (revision {})<br>Not pushed yet: {}<br>Last run: {}<br>Open drift:<ul>{}</ul>",
            obj.pushed_at or "never", obj.pushed_revision or "-", ", ".join(pending) or "nothing",
            last or "none", drifts or mark_safe("<li>none</li>"),
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path("<int:object_id>/sync/", self.admin_site.admin_view(self.sync_view),
                 name="business_profile_businessprofile_sync"),
            *super().get_urls(),
        ]

    def sync_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        change_url = reverse("admin:business_profile_businessprofile_change", args=[object_id])
        if request.method != "POST" or not self.has_sync_permission(request):
            self.message_user(request, "You may not run the sync.", messages.ERROR)
            return HttpResponseRedirect(change_url)
        try:
            run = profile_sync(trigger=ProfileSyncRun.Trigger.ADMIN)
        except Exception as exc:
            self.message_user(request, f"Sync failed: {type(exc).__name__}: {exc}", messages.ERROR)
        else:
            level = messages.WARNING if run.result in (ProfileSyncRun.Result.DRIFT, ProfileSyncRun.Result.SKIPPED) \
                else messages.SUCCESS
            self.message_user(
                request,
                f"Sync: {run.get_result_display()}. Pushed: {', '.join(run.fields_pushed) or 'nothing'}. "
                f"Drift: {', '.join(run.drift_fields) or 'none'}.",
                level,
            )
        return HttpResponseRedirect(change_url)

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        context["can_sync"] = self.has_sync_permission(request)
        return super().render_change_form(request, context, *args, **kwargs)


class ReadOnlyAdmin(ReadOnlyAdminMixin, ModelAdmin[Any]):
    pass


@admin.register(ProfileSyncRun)
class ProfileSyncRunAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "finished_at", "trigger", "result", "attempt", "pushed", "drift", "short_error")
    list_filter = ("result", "trigger")
    date_hierarchy = "started_at"

    @admin.display(description="Fields pushed")
    def pushed(self, obj: ProfileSyncRun) -> str:
        return ", ".join(obj.fields_pushed) or "-"

    @admin.display(description="Drift found")
    def drift(self, obj: ProfileSyncRun) -> str:
        return ", ".join(obj.drift_fields) or "-"

    @admin.display(description="Error")
    def short_error(self, obj: ProfileSyncRun) -> str:
        return obj.error[:120]


class DriftStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "open"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Open"), ("no", "Resolved")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(ProfileDrift)
class ProfileDriftAdmin(ReadOnlyAdmin):
    list_display = ("field", "ours_display", "theirs_display", "last_pushed_display", "detected_at", "status",
                    "resolved_by")
    list_filter = (DriftStatusFilter, "field", "resolution")
    list_select_related = ("resolved_by",)
    actions = ["keep_ours", "accept_theirs"]

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("business_profile.resolve_profiledrift")

    @admin.display(description="Ours")
    def ours_display(self, obj: ProfileDrift) -> str:
        return _show(obj.ours)

    @admin.display(description="Meta's (theirs)")
    def theirs_display(self, obj: ProfileDrift) -> str:
        return _show(obj.theirs)

    @admin.display(description="Last pushed")
    def last_pushed_display(self, obj: ProfileDrift) -> str:
        return _show(obj.last_pushed)

    @admin.display(description="Status")
    def status(self, obj: ProfileDrift) -> SafeString | str:
        if obj.resolved_at is None:
            return format_html('<strong style="color:#b35900">{}</strong>', "open")
        return obj.get_resolution_display()

    def _resolve(self, request: HttpRequest, queryset: QuerySet[ProfileDrift], how: str) -> None:
        service = profile_drift_keep_ours if how == "ours" else profile_drift_accept_theirs
        for drift in queryset.filter(resolved_at__isnull=True):
            try:
                service(drift_id=drift.pk, actor=request.user)  # type: ignore[arg-type]
            except (ValidationError, ProfileSyncBusy, WhatsAppError) as exc:
                text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.message_user(request, f"{drift.field}: not resolved: {text}", messages.ERROR)
            else:
                self.message_user(request, f"{drift.field}: resolved.", messages.SUCCESS)

    @admin.action(description="Keep ours: push our value to WhatsApp", permissions=["resolve"])
    def keep_ours(self, request: HttpRequest, queryset: QuerySet[ProfileDrift]) -> None:
        self._resolve(request, queryset, "ours")

    @admin.action(description="Accept theirs: take Meta's value into our profile", permissions=["resolve"])
    def accept_theirs(self, request: HttpRequest, queryset: QuerySet[ProfileDrift]) -> None:
        self._resolve(request, queryset, "theirs")


# --- Policy versions ------------------------------------------------------------------------


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ModelAdmin[PolicyVersion]):
    list_display = ("__str__", "status", "significant_change", "published_at", "next_review_due",
                    "notification_status", "public_link")
    list_filter = ("status", "significant_change", "notification_status")
    search_fields = ("title", "body", "change_summary")
    actions = ["publish", "mark_reviewed", "notify_again"]
    fields = ("title", "body", "change_summary", "significant_change", "next_review_due")
    published_readonly = ("number", "title", "body", "change_summary", "significant_change", "status",
                          "published_at", "published_by", "next_review_due", "notification_status",
                          "notification_detail", "notified_at", "public_link")

    def has_publish_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("business_profile.publish_policyversion")

    def get_fields(self, request: HttpRequest, obj: PolicyVersion | None = None) -> Any:
        if obj is not None and obj.status == PolicyVersion.Status.PUBLISHED:
            return self.published_readonly
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: PolicyVersion | None = None) -> Any:
        if obj is not None and obj.status == PolicyVersion.Status.PUBLISHED:
            return self.published_readonly
        return ()

    def has_delete_permission(self, request: HttpRequest, obj: PolicyVersion | None = None) -> bool:
        published = obj is not None and obj.status == PolicyVersion.Status.PUBLISHED
        return not published and super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # published versions must never be bulk-deleted
        return actions

    @admin.display(description="Public page")
    def public_link(self, obj: PolicyVersion) -> SafeString | str:
        if obj.number is None:
            return "-"
        url = reverse("public-policy-version", args=[obj.number])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    def save_model(self, request: HttpRequest, obj: PolicyVersion, form: Any, change: bool) -> None:
        values = {f: form.cleaned_data[f] for f in self.fields if f in form.cleaned_data}
        if change:
            saved = policy_draft_update(version_id=obj.pk, changes=values, actor=request.user)  # type: ignore[arg-type]
        else:
            saved = policy_draft_create(**values, actor=request.user)  # type: ignore[arg-type]
        obj.pk = saved.pk

    @admin.action(description="Publish the selected draft (significant change: customers are notified)",
                  permissions=["publish"])
    def publish(self, request: HttpRequest, queryset: QuerySet[PolicyVersion]) -> None:
        for version in queryset.order_by("created_at"):
            try:
                published = policy_publish(version_id=version.pk, actor=request.user)  # type: ignore[arg-type]
            except (PolicyImmutable, ValidationError) as exc:
                self.message_user(request, f"{version}: {exc}", messages.ERROR)
            else:
                note = " Customers who hold any consent will be notified." if published.significant_change else ""
                self.message_user(request, f"Published {published}.{note}", messages.SUCCESS)

    @admin.action(description="Mark reviewed, no change needed: next review in 12 months", permissions=["publish"])
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet[PolicyVersion]) -> None:
        due = timezone.localdate() + timedelta(days=DEFAULT_POLICY_REVIEW_DAYS)
        for version in queryset:
            try:
                policy_review_record(version_id=version.pk, next_review_due=due, actor=request.user)  # type: ignore[arg-type]
            except ValidationError as exc:
                self.message_user(request, f"{version}: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{version}: next review due {due:%d %b %Y}.", messages.SUCCESS)

    @admin.action(description="Notify customers again (after a failed or missing notice)", permissions=["publish"])
    def notify_again(self, request: HttpRequest, queryset: QuerySet[PolicyVersion]) -> None:
        for version in queryset.filter(significant_change=True, status=PolicyVersion.Status.PUBLISHED).exclude(
            notification_status=PolicyVersion.Notification.NOTIFIED
        ):
            result = policy_notify(version_id=version.pk)
            self.message_user(request, f"{result}: {result.get_notification_status_display()}.")


# --- Regulatory register --------------------------------------------------------------------


class OverdueFilter(admin.SimpleListFilter):
    title = "review"
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        overdue = Q(status__in=RegulatoryChange.ACTIVE_STATUSES, review_due__lt=timezone.localdate())
        if self.value() == "yes":
            return queryset.filter(overdue)
        if self.value() == "no":
            return queryset.exclude(overdue)
        return queryset


@admin.register(RegulatoryChange)
class RegulatoryChangeAdmin(ModelAdmin[RegulatoryChange]):
    list_display = ("title", "source", "effective_date", "status", "owner", "review_due_display", "affected_areas")
    list_filter = (OverdueFilter, "source", "status")
    list_select_related = ("owner",)
    search_fields = ("title", "summary", "affected_areas")
    fields = ("source", "title", "summary", "reference_url", "effective_date", "affected_areas", "owner",
              "status", "review_due")
    # A link typed without a scheme is taken as https (Django 6's default, explicit now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="Review due", ordering="review_due")
    def review_due_display(self, obj: RegulatoryChange) -> SafeString | str:
        if obj.review_due is None:
            return "-"
        if obj.status in RegulatoryChange.ACTIVE_STATUSES and obj.review_due < timezone.localdate():
            return format_html('<strong style="color:#b00020">{} (overdue)</strong>', obj.review_due)
        return str(obj.review_due)

    def save_model(self, request: HttpRequest, obj: RegulatoryChange, form: Any, change: bool) -> None:
        regulatory_change_save(change=obj, actor=request.user)  # type: ignore[arg-type]


# --- Compliance alerts ----------------------------------------------------------------------


class AlertOpenFilter(DriftStatusFilter):
    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Not acknowledged"), ("no", "Acknowledged")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(acknowledged_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(acknowledged_at__isnull=False)
        return queryset


@admin.register(ComplianceAlert)
class ComplianceAlertAdmin(ReadOnlyAdmin):
    list_display = ("title", "kind", "raised_at", "last_raised_at", "count", "subject_link", "acknowledged")
    list_filter = (AlertOpenFilter, "kind")
    list_select_related = ("acknowledged_by", "content_type")
    search_fields = ("title", "detail", "dedupe_key")
    readonly_fields = ("kind", "title", "detail", "dedupe_key", "subject_link", "raised_at", "last_raised_at",
                       "count", "acknowledged_at", "acknowledged_by")
    fields = readonly_fields
    actions = ["acknowledge"]

    def has_acknowledge_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("business_profile.acknowledge_compliancealert")

    @admin.display(description="Concerns")
    def subject_link(self, obj: ComplianceAlert) -> SafeString | str:
        if obj.content_type is None or not obj.object_id:
            return "-"
        model = obj.content_type.model_class()
        if model is None:
            return f"{obj.content_type} #{obj.object_id}"
        try:
            url = reverse(f"admin:{obj.content_type.app_label}_{obj.content_type.model}_change", args=[obj.object_id])
        except Exception:
            return f"{obj.content_type} #{obj.object_id}"
        return format_html('<a href="{}">{} #{}</a>', url, model._meta.verbose_name, obj.object_id)

    @admin.display(description="Acknowledged")
    def acknowledged(self, obj: ComplianceAlert) -> SafeString | str:
        if obj.acknowledged_at is None:
            return format_html('<strong style="color:#b00020">{}</strong>', "no")
        return f"{staff_time(obj.acknowledged_at)} by {obj.acknowledged_by}"

    @admin.action(description="Acknowledge the selected alerts", permissions=["acknowledge"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[ComplianceAlert]) -> None:
        count = alert_acknowledge(alert_ids=queryset.values_list("pk", flat=True), actor=request.user)  # type: ignore[arg-type]
        self.message_user(request, f"{count} alert(s) acknowledged.")

