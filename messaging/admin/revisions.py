"""Revisions: the review page (approve or send back, never one's own) and its read-only record."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from messaging.admin.common import lint_table, preview, staff_of
from messaging.admin.widgets import BUTTON_TYPES as BUTTON_TYPE_LABELS
from messaging.models import (
    RevisionStatus,
    TemplateRevision,
)
from messaging.services.drafting import (
    template_approve,
    template_reject,
)
from pandorakart_wa.core.admin.generics import ModelAdmin
from pandorakart_wa.core.admin.mixins import ReadOnlyAdminMixin
from pandorakart_wa.core.admin.reader import reader_may


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    note = forms.CharField(required=False, max_length=2000)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") == "reject" and not str(data.get("note") or "").strip():
            self.add_error("note", "Say why it is rejected: the author reads it.")
        return data


@admin.register(TemplateRevision)
class TemplateRevisionAdmin(ReadOnlyAdminMixin, ModelAdmin[TemplateRevision]):
    """A revision's content, its lint and, for a compliance officer who did not write it, the
    review itself: Approve / Reject with a note beside the content they judge."""

    list_display = ("template", "number", "status", "category", "author", "reviewed_by", "lint_error_count", "created_at")
    list_filter = ("status", "category")
    search_fields = ("template__name", "body")
    list_select_related = ("template", "author", "reviewed_by")
    fields = ("template", "number", "status", "category", "header_text", "body", "footer", "buttons_display",
              "examples", "author", "reviewed_by", "reviewed_at", "review_note", "submitted_at", "created_at",
              "messages_sent")
    readonly_fields = fields
    change_form_template = "admin/messaging/templaterevision_change_form.html"

    @admin.display(description="Buttons")
    def buttons_display(self, obj: TemplateRevision) -> SafeString | str:
        if not obj.buttons:
            return "—"
        return format_html_join("", "<div>{}: <strong>{}</strong> {}</div>", (
            (dict(BUTTON_TYPE_LABELS).get(str(b.get("type", "")).upper(), b.get("type")), b.get("text") or "",
             b.get("url") or b.get("phone_number") or b.get("example") or b.get("otp_type") or "")
            for b in obj.buttons if isinstance(b, dict)
        ))

    @admin.display(description="Examples")
    def examples(self, obj: TemplateRevision) -> SafeString | str:
        parts = [(f"header {{{{{i}}}}}", e) for i, e in enumerate(obj.header_examples or [], start=1)]
        parts += [(f"body {{{{{i}}}}}", e) for i, e in enumerate(obj.body_examples or [], start=1)]
        return format_html_join(" · ", "{}: <strong>{}</strong>", parts) if parts else "—"

    def get_urls(self) -> list[URLPattern]:
        urls: list[URLPattern] = [
            path("<int:revision_id>/review/", self.admin_site.admin_view(self.review_view),
                 name="messaging_templaterevision_review"),
        ]
        return urls + super().get_urls()

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        revision = (TemplateRevision.objects.select_related("template", "author", "reviewed_by")
                    .filter(pk=object_id).first() if object_id.isdigit() else None)
        extra: dict[str, Any] = dict(extra_context or {})
        if revision is not None:
            user: Any = request.user
            is_current = revision.template.current_revision_id == revision.pk
            reviewable = is_current and revision.status == RevisionStatus.IN_REVIEW
            may_review = user.has_perm("messaging.approve_template")
            why_not = ""
            if not may_review:
                why_not = "Compliance officers review revisions."
            elif not reviewable:
                why_not = (f"This revision is {revision.get_status_display().lower()}: only the template's current "
                           "revision in review is approved or rejected.")
            elif revision.author_id == user.pk:
                why_not = "You wrote this revision: another compliance officer must review it (four eyes)."
            extra.update(
                revision_obj=revision,
                preview=preview(revision),
                lint_html=lint_table(revision.lint_findings),
                lint_errors=revision.lint_error_count,
                may_decide=may_review and reviewable and revision.author_id != user.pk,
                why_not=why_not,
                review_url=reverse("admin:messaging_templaterevision_review", args=[revision.pk]),
                template_url=reverse("admin:messaging_messagetemplate_change", args=[revision.template_id]),
                history=revision.events.select_related("actor")
                .order_by("created_at", "id")[:50],
            )
        return super().change_view(request, object_id, form_url, extra)

    def review_view(self, request: HttpRequest, revision_id: int) -> HttpResponse:
        """Approve or reject from the revision page. The service checks the role and the four
        eyes again: a crafted POST by anyone else changes nothing."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        revision = get_object_or_404(TemplateRevision.objects.select_related("template"), pk=revision_id)
        back = HttpResponseRedirect(reverse("admin:messaging_templaterevision_change", args=[revision.pk]))
        form = ReviewForm(request.POST)
        if not form.is_valid():
            self.message_user(request, " ".join(str(m) for errors in form.errors.values() for m in errors),
                              messages.ERROR)
            return back
        if revision.template.current_revision_id != revision.pk:
            self.message_user(request, "A newer revision exists: review that one.", messages.ERROR)
            return back
        decision, note = form.cleaned_data["decision"], str(form.cleaned_data["note"] or "").strip()
        try:
            if decision == "approve":
                template_approve(template=revision.template, actor=staff_of(request), note=note)
            else:
                template_reject(template=revision.template, actor=staff_of(request), reason=note)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, f"Not {decision}d: {'; '.join(getattr(exc, 'messages', [str(exc)]))}",
                              messages.ERROR)
            return back
        verb = "approved: submit it to Meta next" if decision == "approve" else "rejected: the author sees your note"
        self.message_user(request, f"{revision}: {verb}.", messages.SUCCESS)
        return back

    @admin.display(description="Lint findings")
    def lint_report(self, obj: TemplateRevision) -> SafeString | str:
        return lint_table(obj.lint_findings)

    @admin.display(description="Messages that used this revision")
    def messages_sent(self, obj: TemplateRevision) -> SafeString | str:
        count = obj.messages.count()
        if not count:
            return "none"
        if not reader_may("messaging.view_message"):
            return f"{count} messages"
        url = reverse("admin:messaging_message_changelist") + f"?revision__id__exact={obj.pk}"
        return format_html('<a href="{}">{} messages</a>', url, count)
