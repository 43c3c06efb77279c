"""Staff screens of the complaints app. Every write goes through complaints.services, which
checks the role again (Support agents investigate, Compliance officers resolve, close, reopen,
escalate and assign anyone, Auditors read).

- Complaints: queues (mine, unassigned, overdue, escalated, acknowledgement owed), the complaint
  page with its clocks, acknowledgement, evidence, the actions its status and the user's role
  allow, and the read-only timeline; intake of email/phone/website/WhatsApp complaints by staff;
  the evidence pack as one JSON file (each export recorded in the audit trail).
- Signals: read-only list of block/report signals.
- WhatsApp intake words: staff-editable.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from complaints import selectors
from complaints.clocks import describe, first_response_clock, resolution_clock, working_time
from complaints.intake import normalize_phrase
from complaints.models import (
    API_CATEGORIES,
    API_CHANNELS,
    DESCRIPTION_MAX_LENGTH,
    Acknowledgement,
    Category,
    Complaint,
    ComplaintAction,
    ComplaintSignal,
    IntakeTrigger,
    Outcome,
    Status,
)
from complaints.services import (
    PERM_ADD,
    PERM_ASSIGN,
    PERM_ESCALATE,
    PERM_INVESTIGATE,
    allowed_steps,
    complaint_acknowledgement_record,
    complaint_add_note,
    complaint_assign,
    complaint_create,
    complaint_escalate,
    complaint_refresh_evidence,
    complaint_resolve,
    complaint_set_category,
    complaint_transition,
    intake_trigger_save,
)
from pandorakart_wa.admin_mixins import AuditTrailMixin, ReadOnlyAdminMixin
from pandorakart_wa.audit import log_access
from pandorakart_wa.phones import InvalidPhoneNumber, mask_phone, normalize_phone, phone_digest

PERM_EXPORT = "complaints.export_complaint_evidence"
STEP_LABELS: dict[str, str] = {
    Status.ACKNOWLEDGED: "Acknowledge",
    Status.INVESTIGATING: "Investigate",
    Status.AWAITING_CUSTOMER: "Await customer (pauses the clock)",
    Status.CLOSED: "Close",
    Status.REOPENED: "Reopen",
}


def _perm(request: HttpRequest, permission: str) -> bool:
    return bool(request.user.has_perm(permission))  # type: ignore[union-attr]


def mask_details(value: str) -> str:
    """An email address or number given for replies, masked for screens (r***@example.com)."""
    if not value:
        return ""
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    try:
        return mask_phone(normalize_phone(value))
    except InvalidPhoneNumber:
        return f"{value[:2]}***"


class QueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("mine", "Mine"),
            ("unassigned", "Unassigned"),
            ("overdue", "Overdue"),
            ("escalated", "Escalated to the DPO"),
            ("ack_owed", "Acknowledgement owed"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "mine":
            return selectors.queue_mine(queryset, request.user)
        if value == "unassigned":
            return selectors.queue_unassigned(queryset)
        if value == "overdue":
            return selectors.queue_overdue(queryset)
        if value == "escalated":
            return selectors.queue_escalated(queryset)
        if value == "ack_owed":
            return queryset.filter(acknowledgement=Acknowledgement.OWED)
        return queryset


class ComplaintActionInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The timeline: every action, oldest first, read-only for everyone."""

    model = ComplaintAction
    verbose_name = "timeline entry"
    verbose_name_plural = "timeline"
    fields = ("at", "kind", "from_status", "to_status", "actor_label", "note", "visibility")
    readonly_fields = fields
    ordering = ("at", "id")
    extra = 0
    can_delete = False

    @admin.display(description="visible to")
    def visibility(self, action: ComplaintAction) -> str:
        return "staff only" if action.internal else "customer too"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _perm(request, "complaints.view_complaint")


class IntakeForm(forms.Form):
    channel = forms.ChoiceField(choices=[(c.value, c.label) for c in API_CHANNELS])
    category = forms.ChoiceField(choices=[(c.value, c.label) for c in API_CATEGORIES])
    description = forms.CharField(max_length=DESCRIPTION_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 6}))
    phone = forms.CharField(max_length=32, required=False, help_text="The customer's WhatsApp number, if known.")
    customer_name = forms.CharField(max_length=200, required=False)
    contact_details = forms.CharField(
        max_length=300, required=False, help_text="Email address or number to answer on (encrypted)."
    )
    message_id = forms.UUIDField(required=False, help_text="The message complained about, if known.")


class ResolveForm(forms.Form):
    outcome = forms.ChoiceField(choices=Outcome.choices)
    resolution = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


def _assignable() -> QuerySet[Any]:
    codename = PERM_INVESTIGATE.split(".", 1)[1]
    return (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(
            Q(is_superuser=True)
            | Q(groups__permissions__codename=codename)
            | Q(user_permissions__codename=codename)
        )
        .distinct()
        .order_by("username")
    )


@admin.register(Complaint)
class ComplaintAdmin(AuditTrailMixin, admin.ModelAdmin):
    list_display = (
        "reference",
        "status",
        "category",
        "channel",
        "customer",
        "assignee",
        "first_response",
        "resolution_time",
        "escalated_to_dpo",
        "acknowledgement",
        "created_at",
    )
    list_filter = (QueueFilter, "status", "channel", "category", "escalated_to_dpo", "acknowledgement", "outcome")
    list_select_related = ("contact", "assignee")
    search_fields = ("reference",)
    search_help_text = "A reference (CMP-2026-000123) or the customer's number in any format."
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("reference", "status", "category", "channel", "created_at", "created_by")}),
        ("Customer", {"fields": ("customer", "customer_name", "reply_to", "message", "template", "description")}),
        ("Clocks", {"fields": ("first_response", "resolution_time", "clock_detail")}),
        ("Handling", {"fields": ("assignee", "escalated_to_dpo", "escalated_at", "escalated_by", "escalation_reason",
                                 "acknowledgement", "acknowledgement_channel", "acknowledgement_detail")}),
        ("Outcome", {"fields": ("outcome", "resolution", "resolved_at", "resolved_by", "closed_at")}),
        ("Evidence", {"fields": ("evidence_summary",)}),
    )
    readonly_fields = (
        "reference", "status", "category", "channel", "created_at", "created_by", "customer", "customer_name",
        "reply_to", "message", "template", "description", "first_response", "resolution_time", "clock_detail",
        "assignee", "escalated_to_dpo", "escalated_at", "escalated_by", "escalation_reason", "acknowledgement",
        "acknowledgement_channel", "acknowledgement_detail", "outcome", "resolution", "resolved_at", "resolved_by",
        "closed_at", "evidence_summary",
    )
    inlines = (ComplaintActionInline,)
    change_form_template = "complaints/admin/complaint_change_form.html"
    list_per_page = 50

    # Nobody edits a complaint as a form: every change is a service call (the action panel).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return _perm(request, PERM_ADD)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Complaint]:
        return super().get_queryset(request).defer("evidence")  # large; loaded on the complaint page only

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Complaint], search_term: str
    ) -> tuple[QuerySet[Complaint], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.upper().startswith("CMP-"):
            return queryset.filter(reference=term.upper()), False
        try:
            return queryset.filter(phone_digest=phone_digest(normalize_phone(term))), False
        except InvalidPhoneNumber:
            return queryset.filter(reference__icontains=term), False

    # --- columns and fields ---

    @admin.display(description="customer")
    def customer(self, complaint: Complaint) -> str:
        if complaint.contact is not None:
            return str(complaint.contact)
        return "anonymous" if not complaint.contact_details else "no WhatsApp contact"

    @admin.display(description="answer on")
    def reply_to(self, complaint: Complaint) -> str:
        return mask_details(complaint.contact_details) or "-"

    @admin.display(description="first response")
    def first_response(self, complaint: Complaint) -> str:
        clock = first_response_clock(complaint, timezone.now())
        if clock.stopped:
            if complaint.first_responded_at is None:
                return "-"
            late = " (late)" if clock.remaining.total_seconds() < 0 else ""
            return f"given {timezone.localtime(complaint.first_responded_at):%d %b %H:%M}{late}"
        return describe(clock.remaining)

    @admin.display(description="resolution")
    def resolution_time(self, complaint: Complaint) -> str:
        clock = resolution_clock(complaint, timezone.now())
        if clock.stopped:
            return "resolved" if complaint.resolved_at else complaint.get_status_display()
        text = describe(clock.remaining)
        return f"{text} (paused)" if clock.paused else text

    @admin.display(description="clock detail")
    def clock_detail(self, complaint: Complaint) -> str:
        now = timezone.now()
        resolution = resolution_clock(complaint, now)
        breaches = [name for name, at in (("first response", complaint.first_response_breached_at),
                                          ("resolution", complaint.resolution_breached_at),
                                          ("statutory limit", complaint.outer_limit_breached_at)) if at]
        return format_html(
            "First response due {}; resolution due {}; statutory limit {}. Worked {} (paused {} h). {}",
            f"{timezone.localtime(complaint.first_response_due_at):%d %b %Y %H:%M}",
            f"{timezone.localtime(resolution.due_at):%d %b %Y %H:%M}",
            f"{timezone.localtime(complaint.outer_limit_at):%d %b %Y}",
            describe(working_time(complaint, now)).replace(" left", ""),
            complaint.paused_seconds // 3600,
            f"Breached: {', '.join(breaches)}." if breaches else "",
        )

    @admin.display(description="evidence")
    def evidence_summary(self, complaint: Complaint) -> str:
        evidence = complaint.evidence
        if not evidence:
            return "No customer or template named: nothing assembled."
        return format_html(
            "As of {}: {} consent ledger events, {} messages (90 days), {} earlier complaints, {} signals{}.",
            evidence.get("generated_at", "?"),
            len(evidence.get("consent_ledger") or []),
            len(evidence.get("messages") or []),
            len(evidence.get("earlier_complaints") or []),
            len(evidence.get("signals") or []),
            "; template history included" if evidence.get("template") else "",
        )

    # --- pages ---

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        urls: list[URLPattern] = [
            path("<int:complaint_id>/act/", wrap(self.act_view), name="complaints_complaint_act"),
            path("<int:complaint_id>/evidence.json", wrap(self.evidence_view), name="complaints_complaint_evidence"),
            path("<int:complaint_id>/reveal/", wrap(self.reveal_view), name="complaints_complaint_reveal"),
        ]
        return urls + super().get_urls()

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        complaint = Complaint.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        extra: dict[str, Any] = dict(extra_context or {})
        if complaint is not None:
            user = request.user
            steps = [s for s in allowed_steps(complaint, user) if s != Status.RESOLVED]  # type: ignore[arg-type]
            extra.update(
                act_url=reverse("admin:complaints_complaint_act", args=[complaint.pk]),
                steps=[(s, STEP_LABELS.get(s, s)) for s in steps],
                may_resolve=Status.RESOLVED in allowed_steps(complaint, user),  # type: ignore[arg-type]
                resolve_form=ResolveForm(),
                may_investigate=_perm(request, PERM_INVESTIGATE),
                may_escalate=_perm(request, PERM_ESCALATE) and not complaint.escalated_to_dpo,
                may_assign=_perm(request, PERM_ASSIGN) and complaint.is_open,
                may_take=_perm(request, PERM_INVESTIGATE) and complaint.is_open and complaint.assignee_id != user.pk,
                assignable=_assignable() if _perm(request, PERM_ASSIGN) else [],
                ack_open=complaint.acknowledgement in (Acknowledgement.OWED, Acknowledgement.PENDING),
                categories=Category.choices,
                evidence_url=reverse("admin:complaints_complaint_evidence", args=[complaint.pk])
                if _perm(request, PERM_EXPORT) else "",
                reveal_url=reverse("admin:complaints_complaint_reveal", args=[complaint.pk])
                if complaint.contact_details and _perm(request, PERM_INVESTIGATE) else "",
            )
        return super().change_view(request, object_id, form_url, extra)

    def add_view(self, request: HttpRequest, form_url: str = "",
                 extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Intake by staff (a complaint by email, phone, on the website or WhatsApp)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = IntakeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                complaint = complaint_create(
                    channel=data["channel"], category=data["category"], description=data["description"],
                    phone=data["phone"] or None, customer_name=data["customer_name"],
                    contact_details=data["contact_details"], message_id=data["message_id"],
                    actor=request.user,  # type: ignore[arg-type]
                )
            except ValidationError as exc:
                for name, errors in exc.message_dict.items():
                    form.add_error(name if name in form.fields else None, errors)
            else:
                self.message_user(request, f"Complaint {complaint.reference} recorded.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:complaints_complaint_change", args=[complaint.pk]))
        return TemplateResponse(request, "complaints/admin/intake.html", {
            **self.admin_site.each_context(request),
            "title": "Record a complaint",
            "form": form,
            "opts": self.model._meta,
        })

    def act_view(self, request: HttpRequest, complaint_id: int) -> HttpResponse:
        """One workflow action from the complaint page; the service decides whether it is allowed."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        complaint = get_object_or_404(Complaint, pk=complaint_id)
        if not self.has_view_permission(request, complaint):
            raise PermissionDenied
        user: Any = request.user
        post = request.POST
        action = post.get("action", "")
        note = post.get("note", "")
        try:
            done = self._act(complaint, action, post, note, user)
        except PermissionDenied as exc:
            self.message_user(request, str(exc) or "You may not do this.", messages.ERROR)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:complaints_complaint_change", args=[complaint.pk]))

    def _act(self, complaint: Complaint, action: str, post: Any, note: str, user: Any) -> str:
        if action == "step":
            to_status = post.get("to_status", "")
            complaint_transition(complaint=complaint, to_status=to_status, actor=user, note=note)
            return f"{complaint.reference}: {Status(to_status).label.lower()}."
        if action == "resolve":
            form = ResolveForm(post)
            if not form.is_valid():
                raise ValidationError([f"{k}: {' '.join(str(m) for m in v)}" for k, v in form.errors.items()])
            complaint_resolve(complaint=complaint, outcome=form.cleaned_data["outcome"],
                              resolution=form.cleaned_data["resolution"], actor=user)
            return f"{complaint.reference} resolved."
        if action == "note":
            complaint_add_note(complaint=complaint, note=note, actor=user)
            return "Note added."
        if action == "take":
            complaint_assign(complaint=complaint, assignee=user, actor=user)
            return f"{complaint.reference} is yours."
        if action == "assign":
            assignee_id = post.get("assignee") or ""
            assignee = get_user_model().objects.filter(pk=assignee_id).first() if assignee_id.isdigit() else None
            complaint_assign(complaint=complaint, assignee=assignee, actor=user)
            return "Assignment changed."
        if action == "escalate":
            complaint_escalate(complaint=complaint, reason=note, actor=user)
            return f"{complaint.reference} escalated to the DPO."
        if action == "acknowledged":
            complaint_acknowledgement_record(complaint=complaint, note=note, actor=user)
            return "Acknowledgement recorded."
        if action == "category":
            complaint_set_category(complaint=complaint, category=post.get("category", ""), actor=user)
            return "Category changed."
        if action == "refresh_evidence":
            complaint_refresh_evidence(complaint=complaint, actor=user)
            return "Evidence assembled again."
        raise ValidationError("Unknown action.")

    def evidence_view(self, request: HttpRequest, complaint_id: int) -> HttpResponse:
        """The evidence pack as one JSON file for a regulator; the export is audited."""
        if not _perm(request, PERM_EXPORT):
            raise PermissionDenied
        complaint = get_object_or_404(Complaint, pk=complaint_id)
        actions = complaint.actions.order_by("at", "id")
        timeline = [
            {"at": a.at, "kind": a.kind, "from": a.from_status, "to": a.to_status, "actor": a.actor_label,
             "note": a.note, "internal": a.internal, "detail": a.detail}
            for a in actions
        ]
        pack: dict[str, Any] = {
            "format": "pandorakart-complaint-pack/1",
            "exported_at": timezone.now(),
            "exported_by": request.user.get_username(),
            "complaint": {
                **selectors.public_document(complaint),
                "description": complaint.description,
                "escalated_to_dpo": complaint.escalated_to_dpo,
                "escalation_reason": complaint.escalation_reason,
                "acknowledgement": complaint.acknowledgement,
                "first_responded_at": complaint.first_responded_at,
                "outer_limit_at": complaint.outer_limit_at,
                "paused_seconds": complaint.paused_seconds,
                "breaches": {
                    "first_response": complaint.first_response_breached_at,
                    "resolution": complaint.resolution_breached_at,
                    "statutory_limit": complaint.outer_limit_breached_at,
                },
            },
            "timeline": timeline,
            "evidence": complaint.evidence,
            "evidence_assembled_at": complaint.evidence_at,
        }
        evidence = complaint.evidence or {}
        log_access(
            user=request.user,  # type: ignore[arg-type]
            obj_or_label=complaint,
            what=f"exported the evidence pack of complaint {complaint.reference}",
            details={"ledger_events": len(evidence.get("consent_ledger") or []),
                     "messages": len(evidence.get("messages") or []), "timeline_entries": len(timeline)},
        )
        response = HttpResponse(json.dumps(pack, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
                                content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{complaint.reference}-evidence.json"'
        return response

    def reveal_view(self, request: HttpRequest, complaint_id: int) -> HttpResponse:
        """The reply address in full, once, recorded in the audit trail (POST only)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not _perm(request, PERM_INVESTIGATE):
            raise PermissionDenied
        complaint = get_object_or_404(Complaint, pk=complaint_id)
        log_access(user=request.user, obj_or_label=complaint,  # type: ignore[arg-type]
                   what="revealed the contact details of a complaint")
        return TemplateResponse(request, "complaints/admin/reveal.html", {
            **self.admin_site.each_context(request),
            "title": f"Contact details of {complaint.reference}",
            "complaint": complaint,
            "opts": self.model._meta,
        })


@admin.register(ComplaintSignal)
class ComplaintSignalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("occurred_at", "kind", "template", "contact", "message_id", "complaint")
    list_filter = ("kind", "template", "occurred_at")
    list_select_related = ("template", "contact", "complaint")
    date_hierarchy = "occurred_at"
    fields = ("kind", "occurred_at", "contact", "template", "message", "complaint", "dedupe_key", "detail",
              "created_at")
    readonly_fields = fields
    show_full_result_count = False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}


class IntakeTriggerForm(forms.ModelForm):
    class Meta:
        model = IntakeTrigger
        fields = ("phrase", "kind", "whole_message", "active")

    def clean_phrase(self) -> str:
        phrase = str(self.cleaned_data.get("phrase") or "")
        normalized = normalize_phrase(phrase)
        if not normalized:
            raise forms.ValidationError("An intake word needs at least one letter.")
        if IntakeTrigger.objects.filter(normalized=normalized).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("This word is already on the list.")
        return phrase


@admin.register(IntakeTrigger)
class IntakeTriggerAdmin(AuditTrailMixin, admin.ModelAdmin):
    form = IntakeTriggerForm
    list_display = ("phrase", "kind", "whole_message", "active")
    list_filter = ("kind", "whole_message", "active")
    search_fields = ("phrase",)

    def save_model(self, request: HttpRequest, obj: IntakeTrigger, form: Any, change: bool) -> None:
        intake_trigger_save(trigger=obj, actor=request.user)  # type: ignore[arg-type]
