"""The complaint page: queues, clocks, acknowledgement, evidence, the actions the status and the
role allow."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from complaints import selectors
from complaints.admin.common import (
    FIRST_RESPONSE_STOPS,
    PERM_EVIDENCE_PACK,
    PERM_EXPORT,
    PERM_REVEAL,
    PERM_VIEW_CONTACT,
    RECEIPT_SHORT,
    RESOLUTION_STOPS,
    STATUTORY_STOPS,
    STEP_LABELS,
)
from complaints.admin.panels import (
    ComplaintActionInline,
    HandOffForm,
    IntakeForm,
    QueueFilter,
    ResolveForm,
    assignable_staff,
    mask_details,
    request_may,
)
from complaints.clocks import describe, first_response_clock, resolution_clock, working_time
from complaints.models import (
    Acknowledgement,
    Category,
    Complaint,
    ComplaintAction,
    Outcome,
    Status,
)
from complaints.services.common import PERM_ADD, PERM_ASSIGN, PERM_ESCALATE, PERM_INVESTIGATE, PERM_RESOLVE
from complaints.services.handling import (
    complaint_add_note,
    complaint_assign,
    complaint_escalate,
    complaint_refresh_evidence,
    complaint_set_category,
)
from complaints.services.intake import complaint_acknowledgement_record, complaint_create
from complaints.services.workflow import (
    allowed_steps,
    complaint_hand_off,
    complaint_resolve,
    complaint_transition,
    proposed_outcome,
)
from pandorakart_wa.core.admin.generics import ModelAdmin
from pandorakart_wa.core.admin.mixins import (
    AuditTrailMixin,
    PhoneDigestFilter,
    refuse_number_in_url,
)
from pandorakart_wa.core.audit import log_access
from pandorakart_wa.core.timefmt import staff_time


@admin.register(Complaint)
class ComplaintAdmin(AuditTrailMixin, ModelAdmin[Complaint]):
    list_display = (
        "reference",
        "status_column",
        "about",
        "customer",
        "assignee",
        "first_response",
        "resolution_time",
        "receipt",
        "received",
    )
    list_filter = (QueueFilter, PhoneDigestFilter, "status", "channel", "category", "escalated_to_dpo",
                   "acknowledgement", "outcome")
    list_select_related = ("contact", "assignee")
    search_fields = ("reference",)
    search_help_text = "A reference (CMP-2026-000123). To find a customer's complaints by number, use “Find by number”."
    date_hierarchy = "created_at"
    # The record, below the clocks and the actions: facts in words (no column of red crosses for
    # "not escalated"), times in India time.
    fieldsets = (
        (None, {"fields": ("reference", "status", "category", "channel", "created_at", "created_by")}),
        ("Customer", {"fields": ("customer", "customer_name", "reply_to", "message", "template", "description")}),
        ("Handling", {"fields": ("assignee", "escalation", "receipt_detail")}),
        ("Outcome", {"fields": ("outcome", "resolution", "resolved_at", "resolved_by", "closed_at")}),
        ("Evidence", {"fields": ("evidence_summary",)}),
    )
    readonly_fields = (
        "reference", "status", "category", "channel", "created_at", "created_by", "customer", "customer_name",
        "reply_to", "message", "template", "description", "first_response", "resolution_time", "clock_detail",
        "assignee", "escalation", "receipt_detail", "outcome", "resolution", "resolved_at", "resolved_by",
        "closed_at", "evidence_summary",
    )
    inlines = (ComplaintActionInline,)
    change_form_template = "complaints/admin/complaint_change_form.html"
    change_list_template = "complaints/admin/complaint_change_list.html"
    list_per_page = 50

    # Nobody edits a complaint as a form: every change is a service call (the action panel).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return request_may(request, PERM_ADD)

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
        refused = refuse_number_in_url(request, queryset, term)
        if refused is not None:
            return refused
        return queryset.filter(reference__icontains=term), False

    # --- columns and fields ---

    @admin.display(description="status", ordering="status")
    def status_column(self, complaint: Complaint) -> str:
        dpo = format_html(' <span class="badge bad">{}</span>', "DPO") if complaint.escalated_to_dpo else ""
        return format_html('<span class="badge {}">{}</span>{}', complaint.status, complaint.get_status_display(), dpo)

    @admin.display(description="about", ordering="category")
    def about(self, complaint: Complaint) -> str:
        return format_html("{}<div class='quiet'>by {}</div>", complaint.get_category_display(),
                           complaint.get_channel_display().split(" (")[0].lower())

    @admin.display(description="received", ordering="created_at")
    def received(self, complaint: Complaint) -> str:
        return f"{timezone.localtime(complaint.created_at):%d %b %H:%M}"

    @admin.display(description="receipt", ordering="acknowledgement")
    def receipt(self, complaint: Complaint) -> str:
        return RECEIPT_SHORT.get(Acknowledgement(complaint.acknowledgement), complaint.acknowledgement)

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
                return "—"
            late = " (late)" if clock.remaining.total_seconds() < 0 else ""
            return f"given {timezone.localtime(complaint.first_responded_at):%d %b %H:%M}{late}"
        return f"due: {describe(clock.remaining)}"

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
            staff_time(complaint.first_response_due_at, seconds=False),
            staff_time(resolution.due_at, seconds=False),
            staff_time(complaint.outer_limit_at, seconds=False),
            describe(working_time(complaint, now)).replace(" left", ""),
            complaint.paused_seconds // 3600,
            f"Breached: {', '.join(breaches)}." if breaches else "",
        )

    @staticmethod
    def clocks(complaint: Complaint) -> list[dict[str, Any]]:
        """The three clocks as the complaint page shows them: due, state, and what stops each."""
        now = timezone.now()
        first = first_response_clock(complaint, now)
        resolution = resolution_clock(complaint, now)
        if first.stopped and complaint.first_responded_at is not None:
            late = first.remaining.total_seconds() < 0
            first_state = (f"stopped: given {staff_time(complaint.first_responded_at, seconds=False)}"
                           + (" (late)" if late else " (in time)"))
            first_level = "bad" if late else "ok"
        elif first.stopped:
            first_state, first_level = "stopped: the complaint was closed without one", "info"
        else:
            first_state = f"running: {describe(first.remaining)}"
            first_level = "bad" if first.overdue else "warn"
        if resolution.stopped:
            resolution_state = f"stopped: resolved {staff_time(complaint.resolved_at, seconds=False)}" \
                if complaint.resolved_at else "stopped"
            resolution_level = "bad" if resolution.remaining.total_seconds() < 0 else "ok"
        elif resolution.paused:
            resolution_state, resolution_level = f"paused (awaiting the customer): {describe(resolution.remaining)}", "info"
        else:
            resolution_state = f"running: {describe(resolution.remaining)}"
            resolution_level = "bad" if resolution.overdue else "warn"
        outer_remaining = complaint.outer_limit_at - (complaint.resolved_at if not complaint.is_open and
                                                       complaint.resolved_at else now)
        outer_state = "stopped: resolved" if not complaint.is_open else f"running: {describe(outer_remaining)}"
        return [
            {"name": "First response", "due": complaint.first_response_due_at, "state": first_state,
             "level": first_level, "stops": FIRST_RESPONSE_STOPS, "breached": complaint.first_response_breached_at},
            {"name": "Resolution", "due": resolution.due_at, "state": resolution_state, "level": resolution_level,
             "stops": RESOLUTION_STOPS, "breached": complaint.resolution_breached_at},
            {"name": "Statutory limit (90 days)", "due": complaint.outer_limit_at, "state": outer_state,
             "level": "bad" if complaint.outer_limit_breached_at else ("ok" if not complaint.is_open else "info"),
             "stops": STATUTORY_STOPS, "breached": complaint.outer_limit_breached_at},
        ]

    @staticmethod
    def receipt_text(complaint: Complaint) -> str:
        """The receipt in words, with the WhatsApp message's own status when one was sent."""
        text = str(complaint.get_acknowledgement_display())
        message = complaint.acknowledgement_message
        if message is not None:
            text += f": message {message.get_status_display().lower()}"
            if message.status == "failed":
                text += " (the customer did not get it: give the receipt on the complaint's channel)"
        if complaint.acknowledgement_detail:
            text += f". {complaint.acknowledgement_detail}"
        return text

    @admin.display(description="escalation to the DPO")
    def escalation(self, complaint: Complaint) -> str:
        if not complaint.escalated_to_dpo:
            return "not escalated"
        by = complaint.escalated_by.get_username() if complaint.escalated_by else "the clocks (a breach)"
        return f"escalated {staff_time(complaint.escalated_at)} by {by}: {complaint.escalation_reason or '—'}"

    @admin.display(description="receipt to the customer")
    def receipt_detail(self, complaint: Complaint) -> str:
        channel = f" (on {complaint.get_acknowledgement_channel_display()})" if complaint.acknowledgement_channel else ""
        return self.receipt_text(complaint) + channel

    @admin.display(description="evidence")
    def evidence_summary(self, complaint: Complaint) -> str:
        evidence = complaint.evidence
        if not evidence:
            return "No customer or template named: nothing assembled."
        generated = parse_datetime(str(evidence.get("generated_at") or ""))
        return format_html(
            "As of {}: {} consent ledger events, {} messages (90 days), {} earlier complaints, {} signals{}.",
            staff_time(generated) if generated else "?",
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
        complaint = (
            Complaint.objects.select_related("contact", "assignee", "acknowledgement_message", "message")
            .filter(pk=object_id).first() if object_id.isdigit() else None
        )
        extra: dict[str, Any] = dict(extra_context or {})
        if complaint is not None:
            user: Any = request.user
            allowed = allowed_steps(complaint, user)
            # Resolving and the hand-off have forms of their own; the other steps are buttons.
            steps = [s for s in allowed if s not in (Status.RESOLVED, Status.READY_FOR_OFFICER)]
            contact = complaint.contact
            proposal = proposed_outcome(complaint)
            hand_off = complaint.actions.filter(
                kind=ComplaintAction.Kind.STATUS, to_status=Status.READY_FOR_OFFICER
            ).order_by("-at", "-id").first() if complaint.status == Status.READY_FOR_OFFICER else None
            extra.update(
                act_url=reverse("admin:complaints_complaint_act", args=[complaint.pk]),
                steps=[(s, STEP_LABELS.get(s, s)) for s in steps],
                may_resolve=Status.RESOLVED in allowed,
                resolve_form=ResolveForm(),
                may_hand_off=Status.READY_FOR_OFFICER in allowed and not request_may(request, PERM_RESOLVE),
                hand_off_form=HandOffForm(),
                hand_off=hand_off,
                proposed_outcome=Outcome(proposal).label if proposal else "",
                may_investigate=request_may(request, PERM_INVESTIGATE) and complaint.is_open,
                may_escalate=request_may(request, PERM_ESCALATE) and not complaint.escalated_to_dpo,
                may_assign=request_may(request, PERM_ASSIGN) and complaint.is_open,
                may_take=request_may(request, PERM_INVESTIGATE) and complaint.is_open and complaint.assignee_id != user.pk,
                assignable=assignable_staff() if request_may(request, PERM_ASSIGN) else [],
                ack_open=complaint.acknowledgement in (Acknowledgement.OWED, Acknowledgement.PENDING),
                categories=Category.choices,
                clocks=self.clocks(complaint),
                receipt=self.receipt_text(complaint),
                evidence_url=reverse("admin:complaints_complaint_evidence", args=[complaint.pk])
                if request_may(request, PERM_EXPORT) else "",
                reveal_url=reverse("admin:complaints_complaint_reveal", args=[complaint.pk])
                if complaint.contact_details and request_may(request, PERM_REVEAL) else "",
                customer_url=reverse("admin:consent_contact_change", args=[contact.pk])
                if contact is not None and request_may(request, PERM_VIEW_CONTACT) else "",
                evidence_pack_url=reverse("dashboard:evidence_pack", kwargs={"contact_id": contact.public_id})
                if contact is not None and request_may(request, PERM_EVIDENCE_PACK) else "",
                message_url=reverse("admin:messaging_message_change", args=[complaint.message_id])
                if complaint.message_id and request_may(request, "messaging.view_message") else "",
                complaint_obj=complaint,
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
                raise ValidationError([" ".join(str(m) for m in v) for v in form.errors.values()])
            complaint_resolve(complaint=complaint, outcome=form.cleaned_data["outcome"],
                              resolution=form.cleaned_data["resolution"], actor=user)
            return f"{complaint.reference} resolved: {Outcome(form.cleaned_data['outcome']).label}."
        if action == "hand_off":
            hand_off = HandOffForm(post)
            if not hand_off.is_valid():
                raise ValidationError([" ".join(str(m) for m in v) for v in hand_off.errors.values()])
            complaint_hand_off(complaint=complaint, findings=hand_off.cleaned_data["findings"],
                               proposed_outcome=hand_off.cleaned_data["proposed_outcome"], actor=user)
            return f"{complaint.reference} is in the officers' queue (ready for an officer)."
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
        if not request_may(request, PERM_EXPORT):
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
        if not request_may(request, PERM_REVEAL):  # the same rule as a contact's number
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
