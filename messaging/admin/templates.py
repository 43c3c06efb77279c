"""Templates: the editor with its lint findings beside it, the four-eyes workflow as permission-
gated actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template import engines
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from messaging.admin.common import REASON_PAGE, lint_table, staff_of, text_lines
from messaging.admin.template_parts import RevisionInline, StatusEventInline, TemplateEditForm
from messaging.lint import lint_template
from messaging.models import (
    HoldReason,
    MessageTemplate,
    RevisionStatus,
)
from messaging.selectors import lint_vocabulary, revision_content, template_usable
from messaging.services.drafting import (
    template_approve,
    template_create_draft,
    template_reject,
    template_revise,
    template_submit_for_review,
)
from messaging.services.holds import template_hold, template_release_hold
from messaging.services.meta_updates import template_sync_from_meta
from messaging.services.submission import template_submit_to_meta
from messaging.tasks import template_submit_later
from messaging.template_format import TemplateContent, variable_count
from pandorakart_wa.core.admin.generics import ModelAdmin
from pandorakart_wa.core.timefmt import staff_time
from pandorakart_wa.whatsapp.errors import DeliveryUnknown, TransientError, WhatsAppError


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ModelAdmin[MessageTemplate]):
    form = TemplateEditForm
    list_display = ("name", "language", "category", "purpose", "status", "meta_status", "quality", "usable",
                    "hold_reason", "scheduled", "updated_at")
    list_filter = ("category", "status", "meta_status", "quality", "hold_reason", "language")
    search_fields = ("name",)
    list_select_related = ("approved_revision",)
    inlines = (RevisionInline, StatusEventInline)
    actions = ("submit_for_review", "approve", "reject", "submit_to_meta", "release_hold",
               "hold_for_recategorisation", "pull_from_meta")
    readonly_fields = ("attention", "scheduled_change", "usable_now", "purpose", "status", "meta_status",
                       "meta_reason", "quality", "meta_template_id", "meta_synced_at", "lint_findings", "in_use")

    change_form_template = "admin/messaging/messagetemplate_change_form.html"

    def get_fieldsets(self, request: HttpRequest, obj: MessageTemplate | None = None) -> Any:
        content = ("header_text", "body", "footer", "buttons", "header_examples", "body_examples")
        if obj is None:
            return [(None, {"fields": ("name", "language", "category")}), ("Content", {"fields": content})]
        attention = [("Needs attention", {"fields": ("attention",)})] if obj.attention_reason else []
        scheduled = [("Recategorisation announced by Meta", {"fields": ("scheduled_change",)})] \
            if obj.scheduled_category else []
        return [
            *scheduled,
            *attention,
            (None, {"fields": ("name", "language", "category", "purpose", "status", "usable_now")}),
            ("Content of the current revision (saving a change writes a new revision for review)",
             {"fields": (*content, "lint_findings")}),
            ("In use", {"fields": ("in_use",)}),
            ("Meta", {"fields": ("meta_template_id", "meta_status", "meta_reason", "quality", "meta_synced_at")}),
        ]

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        urls: list[URLPattern] = [
            path("lint/", wrap(self.lint_view), name="messaging_messagetemplate_lint"),
            path("<int:template_id>/submit-review/", wrap(self.submit_review_view),
                 name="messaging_messagetemplate_submit_review"),
        ]
        return urls + super().get_urls()

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        template = MessageTemplate.objects.filter(pk=object_id).select_related("current_revision").first() \
            if object_id.isdigit() else None
        extra: dict[str, Any] = dict(extra_context or {})
        revision = template.current_revision if template is not None else None
        if revision is not None:
            extra.update(
                current_revision=revision,
                revision_url=reverse("admin:messaging_templaterevision_change", args=[revision.pk]),
                may_submit_review=revision.status == RevisionStatus.DRAFT and self.has_change_permission(request, template),
                submit_review_url=reverse("admin:messaging_messagetemplate_submit_review", args=[template.pk]),  # type: ignore[union-attr]
            )
        return super().change_view(request, object_id, form_url, extra)

    def lint_view(self, request: HttpRequest) -> HttpResponse:
        """The lint of what is being typed (the editor posts its fields as they change): nothing
        is saved; the findings are the ones a saved revision would get."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        template = None
        template_id = request.POST.get("template_id", "")
        if template_id.isdigit():
            template = MessageTemplate.objects.filter(pk=template_id).first()
        form = TemplateEditForm(request.POST, instance=template)
        form.is_valid()  # partial content is linted too: what is missing is a finding
        data = form.cleaned_data
        buttons = data.get("buttons")
        if buttons is None:  # a row without a type: say so where the lint is shown
            return HttpResponse(format_html('<div class="errornote">{}</div>',
                                            " ".join(str(m) for m in form.errors.get("buttons", []))))
        content = TemplateContent(
            name=template.name if template is not None else str(request.POST.get("name") or ""),
            language=template.language if template is not None else str(request.POST.get("language") or ""),
            category=str(data.get("category") or (template.category if template is not None else "")
                         or request.POST.get("category") or ""),
            header_text=str(request.POST.get("header_text") or ""), body=str(request.POST.get("body") or ""),
            footer=str(request.POST.get("footer") or ""), buttons=tuple(buttons),
            header_examples=tuple(text_lines(str(request.POST.get("header_examples") or ""))),
            body_examples=tuple(text_lines(str(request.POST.get("body_examples") or ""))),
        )
        findings = [f.as_dict() for f in lint_template(content, lint_vocabulary())]
        return HttpResponse(format_html("<p class='cd-sub'>Lint of the text as typed (not saved yet):</p>{}",
                                        lint_table(findings)))

    def submit_review_view(self, request: HttpRequest, template_id: int) -> HttpResponse:
        """Send the current draft to the compliance officers, from the template's own page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        template = get_object_or_404(MessageTemplate, pk=template_id)
        try:
            template_submit_for_review(template=template, actor=staff_of(request))
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, f"Not submitted: {'; '.join(getattr(exc, 'messages', [str(exc)]))}",
                              messages.ERROR)
        else:
            self.message_user(request, f"Template {template} submitted for review: a compliance officer reviews it "
                                       "on the revision page.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:messaging_messagetemplate_change", args=[template.pk]))

    def get_readonly_fields(self, request: HttpRequest, obj: MessageTemplate | None = None) -> Any:
        if obj is None:
            return ()
        fixed = ("name", "language") + (("category",) if obj.meta_template_id else ())
        return (*self.readonly_fields, *fixed)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the history and the messages sent need the template

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("messaging.approve_template")

    def has_submit_meta_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("messaging.submit_template_to_meta")

    # --- displays ------------------------------------------------------------------------

    @admin.display(boolean=True, description="Usable")
    def usable(self, obj: MessageTemplate) -> bool:
        return template_usable(obj)[0]

    @admin.display(description="Usable now")
    def usable_now(self, obj: MessageTemplate) -> str:
        ok, code = template_usable(obj)
        return "Yes" if ok else f"No ({code})"

    @admin.display(description="Attention")
    def attention(self, obj: MessageTemplate) -> SafeString | str:
        if not obj.attention_reason:
            return "-"
        held = ""
        if obj.hold_reason:
            held = f"HELD ({obj.get_hold_reason_display()}) since {staff_time(obj.attention_since)}. "
        return format_html('<div style="color:#c62828;white-space:pre-wrap"><b>{}</b>{}</div>', held, obj.attention_reason)

    @admin.display(description="Meta will change it to")
    def scheduled(self, obj: MessageTemplate) -> str:
        if not obj.scheduled_category:
            return "-"
        return f"{obj.scheduled_category} on {staff_time(obj.scheduled_category_at, seconds=False)}"

    @admin.display(description="Scheduled change")
    def scheduled_change(self, obj: MessageTemplate) -> SafeString | str:
        """The notice, the time left, and what the revision in use lacks under the new category."""
        if not obj.scheduled_category:
            return "-"
        at = obj.scheduled_category_at
        left = ""
        if at is not None:
            hours = max(int((at - timezone.now()).total_seconds() // 3600), 0)
            left = f" (in {hours // 24} days {hours % 24} h)"
        revision = obj.approved_revision
        verdict = "No revision in use yet."
        if revision is not None:
            findings = [f.as_dict() for f in lint_template(revision_content(revision, category=obj.scheduled_category),
                                                          lint_vocabulary())]
            errors = [f for f in findings if f["severity"] == "error"]
            verdict = (format_html("Under {} the revision in use ({}) would be refused:{}", obj.scheduled_category,
                                   revision.number, lint_table(errors))
                       if errors else f"Under {obj.scheduled_category} the revision in use ({revision.number}) passes lint.")
        return format_html(
            '<div id="scheduled-change"><b>{} → {}</b> on {}{}, announced {}.<br>{}<br>Before then: hold it '
            '(action “Hold until Meta recategorises it”), or write a corrected revision here, have it reviewed '
            'and submit it to Meta; a revision submitted after the notice is left to Meta\'s verdict.</div>',
            obj.category, obj.scheduled_category, staff_time(at), left, staff_time(obj.scheduled_category_noticed_at),
            verdict,
        )

    @admin.display(description="Lint findings")
    def lint_findings(self, obj: MessageTemplate) -> SafeString | str:
        revision = obj.current_revision
        if revision is None:
            return "-"
        return format_html("Revision {} ({}):<br>{}", revision.number, revision.get_status_display(),
                           lint_table(revision.lint_findings))

    @admin.display(description="Revision in use")
    def in_use(self, obj: MessageTemplate) -> SafeString | str:
        revision = obj.approved_revision
        if revision is None:
            return "None yet: sends need a revision approved internally and submitted to Meta."
        return format_html(
            "Revision {} ({} variables), approved by {}:<pre style='white-space:pre-wrap'>{}</pre>",
            revision.number, variable_count(revision.body), revision.reviewed_by, revision.body,
        )

    # --- writes through the services ------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: MessageTemplate, form: Any, change: bool) -> None:
        assert isinstance(form, TemplateEditForm)
        try:
            if not change:
                template = template_create_draft(
                    name=form.cleaned_data["name"], language=form.cleaned_data["language"],
                    category=form.cleaned_data["category"], fields=form.template_fields(), author=staff_of(request),
                )
                obj.pk = template.pk
                obj.refresh_from_db()
            elif form.content_changed():
                revision = template_revise(
                    template=obj, fields=form.template_fields(), author=staff_of(request),
                    category=form.cleaned_data.get("category") or None,
                )
                self.message_user(request, f"Revision {revision.number} saved as a draft: submit it for review.")
            obj.refresh_from_db()
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, f"Not saved: {'; '.join(getattr(exc, 'messages', [str(exc)]))}", messages.ERROR)

    def _each(
        self, request: HttpRequest, queryset: QuerySet[MessageTemplate], verb: str,
        call: Callable[[MessageTemplate], Any],
    ) -> None:
        for template in queryset:
            try:
                call(template)
            except (ValidationError, PermissionDenied) as exc:
                text = "; ".join(getattr(exc, "messages", [str(exc)]))
                self.message_user(request, f"{template}: not {verb}: {text}", messages.ERROR)
            except (TransientError, DeliveryUnknown) as exc:
                template_submit_later(template_id=template.pk, retry_after=getattr(exc, "retry_after", None))
                self.message_user(request, f"{template}: Meta is unavailable ({exc}); it will be retried.", messages.WARNING)
            else:
                self.message_user(request, f"{template}: {verb}.")

    @admin.action(description="Submit for review", permissions=["change"])
    def submit_for_review(self, request: HttpRequest, queryset: QuerySet[MessageTemplate]) -> None:
        self._each(request, queryset, "submitted for review",
                   lambda t: template_submit_for_review(template=t, actor=staff_of(request)))

    @admin.action(description="Approve (compliance officer, not the author)", permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[MessageTemplate]) -> None:
        self._each(request, queryset, "approved", lambda t: template_approve(template=t, actor=staff_of(request)))

    @admin.action(description="Reject, with a reason", permissions=["approve"])
    def reject(self, request: HttpRequest, queryset: QuerySet[MessageTemplate]) -> HttpResponse | None:
        reason = self._reason(request)
        if reason is None:
            return self._ask(request, queryset, "reject", "Reject", "Why are these revisions rejected?")
        self._each(request, queryset, "rejected", lambda t: template_reject(template=t, actor=staff_of(request), reason=reason))
        return None

    @admin.action(description="Submit to Meta", permissions=["submit_meta"])
    def submit_to_meta(self, request: HttpRequest, queryset: QuerySet[MessageTemplate]) -> None:
        def submit(template: MessageTemplate) -> None:
            revision = template_submit_to_meta(template=template, actor=staff_of(request))
            if revision.status == "rejected":
                raise ValidationError(revision.review_note.splitlines()[-1])

        self._each(request, queryset, "submitted to Meta", submit)

    @admin.action(description="Release hold, after review", permissions=["approve"])
    def release_hold(self, request: HttpRequest, queryset: QuerySet[MessageTemplate]) -> HttpResponse | None:
        note = self._reason(request)
        if note is None:
            return self._ask(request, queryset, "release_hold", "Release",
                             "What did you check before putting these templates back in use?")
        self._each(request, queryset, "released",
                   lambda t: template_release_hold(template=t, actor=staff_of(request), note=note))
        return None

    @admin.action(description="Hold until Meta recategorises it (compliance officer)", permissions=["approve"])
    def hold_for_recategorisation(self, request: HttpRequest, queryset: QuerySet[MessageTemplate]) -> HttpResponse | None:
        note = self._reason(request)
        if note is None:
            return self._ask(request, queryset, "hold_for_recategorisation", "Hold",
                             "Why are these templates held before Meta's recategorisation?")

        def hold(template: MessageTemplate) -> None:
            if not template.scheduled_category:
                raise ValidationError("Meta has announced no recategorisation of it.")
            template_hold(template=template, reason=HoldReason.RECATEGORISED, actor=staff_of(request),
                          note=f"Held before Meta's recategorisation to {template.scheduled_category}: {note}")

        self._each(request, queryset, "held", hold)
        return None

    @admin.action(description="Pull statuses from Meta now", permissions=["submit_meta"])
    def pull_from_meta(self, request: HttpRequest, queryset: QuerySet[MessageTemplate]) -> None:
        try:
            report = template_sync_from_meta(actor=staff_of(request))
        except WhatsAppError as exc:
            self.message_user(request, f"Meta could not be read: {exc}", messages.ERROR)
            return
        self.message_user(request, f"Meta lists {report.seen} templates; {report.updated} changed here.")

    @staticmethod
    def _reason(request: HttpRequest) -> str | None:
        if request.POST.get("confirm") == "yes" and request.POST.get("reason", "").strip():
            return request.POST["reason"].strip()
        return None

    def _ask(self, request: HttpRequest, queryset: QuerySet[MessageTemplate], action: str, title: str,
             question: str) -> HttpResponse:
        context = {**self.admin_site.each_context(request), "title": title, "question": question,
                   "templates": list(queryset), "action": action, "opts": self.model._meta}
        return HttpResponse(engines["django"].from_string(REASON_PAGE).render(context, request))
