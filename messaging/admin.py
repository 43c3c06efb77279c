"""Staff screens of the messaging app. Templates part: the editor with its lint findings beside
it, the four-eyes workflow as permission-gated actions, Meta's status and quality history.
Every write goes through messaging.services."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template import engines
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from messaging.admin_widgets import BUTTON_TYPES as BUTTON_TYPE_LABELS
from messaging.admin_widgets import ButtonsField
from messaging.lint import lint_template
from messaging.models import (
    HoldReason,
    LintTerm,
    MessageRate,
    MessageTemplate,
    RevisionStatus,
    TemplateRevision,
    TemplateStatusEvent,
)
from messaging.selectors import lint_vocabulary, revision_content, template_usable
from messaging.services.common import TemplateFields
from messaging.services.drafting import (
    template_approve,
    template_create_draft,
    template_reject,
    template_revise,
    template_submit_for_review,
)
from messaging.services.holds import lint_term_save, template_hold, template_release_hold
from messaging.services.meta_updates import template_sync_from_meta
from messaging.services.submission import template_submit_to_meta
from messaging.tasks import template_submit_later
from messaging.template_format import TemplateContent, render, variable_count
from pandorakart_wa.core.admin.generics import ModelAdmin, ModelForm, TabularInline
from pandorakart_wa.core.admin.mixins import ReadOnlyAdminMixin
from pandorakart_wa.core.admin.reader import reader_may
from pandorakart_wa.core.timefmt import staff_time
from pandorakart_wa.whatsapp.errors import DeliveryUnknown, TransientError, WhatsAppError

# An intermediate page asking for a reason (reject, release); kept here so the app ships no
# template directory of its own.
REASON_PAGE = """{% extends "admin/base_site.html" %}
{% block content %}
<form method="post">{% csrf_token %}
  <p>{{ question }}</p>
  <ul>{% for t in templates %}
    <li>{{ t }}{% if t.attention_reason %}: <em>{{ t.attention_reason }}</em>{% endif %}</li>
  {% endfor %}</ul>
  <p><textarea name="reason" rows="4" cols="90" required></textarea></p>
  {% for t in templates %}<input type="hidden" name="_selected_action" value="{{ t.pk }}">{% endfor %}
  <input type="hidden" name="action" value="{{ action }}">
  <input type="hidden" name="confirm" value="yes">
  <input type="submit" class="default" value="{{ title }}">
</form>
{% endblock %}"""


def _staff(request: HttpRequest) -> AbstractBaseUser:
    """The signed-in staff user (the admin requires one) as the services' actor."""
    user = request.user
    assert isinstance(user, AbstractBaseUser)
    return user


def _lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def lint_table(findings: Sequence[dict[str, str]]) -> SafeString | str:
    if not findings:
        return format_html('<span style="color:#2e7d32">{}</span>', "No findings: passes lint.")
    rows = format_html_join(
        "",
        '<tr><td style="color:{}"><b>{}</b></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>',
        (
            ("#c62828" if f["severity"] == "error" else "#ef6c00", f["severity"], f["component"], f["rule"], f["message"])
            for f in findings
        ),
    )
    return format_html("<table><tr><th>Severity</th><th>Component</th><th>Rule</th><th>Finding</th></tr>{}</table>", rows)


def preview(revision: TemplateRevision) -> dict[str, Any]:
    """The revision as the customer would read it, with the examples in place of {{n}}."""
    return {
        "header": render(revision.header_text, list(revision.header_examples or [])),
        "body": render(revision.body, list(revision.body_examples or [])),
        "footer": revision.footer,
        "buttons": [str(b.get("text") or dict(BUTTON_TYPE_LABELS).get(str(b.get("type", "")).upper(), ""))
                    for b in revision.buttons or [] if isinstance(b, dict)],
    }


class TemplateEditForm(ModelForm[MessageTemplate]):
    """The template's identity plus the content of its current revision. Saving changed content
    writes a new revision (the service), which must be reviewed again."""

    header_text = forms.CharField(required=False, widget=forms.TextInput(attrs={"size": 70}),
                                  help_text="Optional text header: at most 60 characters and one variable {{1}}.")
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 6, "cols": 90}),
                           help_text="At most 1024 characters; variables {{1}}, {{2}}... in order, not at the start or end.")
    footer = forms.CharField(required=False, widget=forms.TextInput(attrs={"size": 70}),
                             help_text='At most 60 characters. Marketing: e.g. "Reply STOP to opt out".')
    buttons = ButtonsField(
        required=False, initial=list,
        help_text='One row per button. Marketing: a "Stop promotions" quick reply is the opt-out customers tap. '
        "Empty rows are ignored; save to get more rows.",
    )
    header_examples = forms.CharField(required=False, help_text="An example for the header's {{1}}.")
    body_examples = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                                    help_text="One example per line, for {{1}}, {{2}}... in order.")

    class Meta:
        model = MessageTemplate
        fields = ["name", "language", "category"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        revision = self.instance.current_revision if self.instance.pk else None
        if revision is not None:
            self.initial.update(
                header_text=revision.header_text, body=revision.body, footer=revision.footer,
                buttons=revision.buttons, header_examples="\n".join(revision.header_examples),
                body_examples="\n".join(revision.body_examples),
            )


    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk and self.instance.meta_template_id and "category" in self.changed_data:
            self.add_error("category", "Meta does not allow changing the category of a submitted template.")
        return data

    def template_fields(self) -> TemplateFields:
        data = self.cleaned_data
        return TemplateFields(
            header_text=data.get("header_text") or "", body=data["body"], footer=data.get("footer") or "",
            buttons=data.get("buttons") or [], header_examples=_lines(data.get("header_examples") or ""),
            body_examples=_lines(data.get("body_examples") or ""),
        )

    def content_changed(self) -> bool:
        revision = self.instance.current_revision
        if revision is None:
            return True
        new = self.template_fields()
        return (
            (new.header_text, new.body, new.footer, list(new.buttons), list(new.header_examples), list(new.body_examples))
            != (revision.header_text, revision.body, revision.footer, revision.buttons, revision.header_examples,
                revision.body_examples)
        ) or "category" in self.changed_data


class ReadOnlyInline(ReadOnlyAdminMixin, TabularInline[Any, MessageTemplate]):
    extra = 0
    can_delete = False
    show_change_link = True


class RevisionInline(ReadOnlyInline):
    model = TemplateRevision
    fk_name = "template"
    fields = ("number", "status", "category", "author", "reviewed_by", "reviewed_at", "review_note",
              "lint_error_count", "submitted_at", "created_at")
    readonly_fields = fields
    ordering = ("-number",)


class StatusEventInline(ReadOnlyInline):
    model = TemplateStatusEvent
    fk_name = "template"
    verbose_name_plural = "Status, quality and category history"
    fields = ("created_at", "kind", "source", "old_value", "new_value", "reason", "actor", "revision")
    readonly_fields = fields
    show_change_link = False
    ordering = ("-created_at", "-id")


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
            header_examples=tuple(_lines(str(request.POST.get("header_examples") or ""))),
            body_examples=tuple(_lines(str(request.POST.get("body_examples") or ""))),
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
            template_submit_for_review(template=template, actor=_staff(request))
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
                    category=form.cleaned_data["category"], fields=form.template_fields(), author=_staff(request),
                )
                obj.pk = template.pk
                obj.refresh_from_db()
            elif form.content_changed():
                revision = template_revise(
                    template=obj, fields=form.template_fields(), author=_staff(request),
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
                   lambda t: template_submit_for_review(template=t, actor=_staff(request)))

    @admin.action(description="Approve (compliance officer, not the author)", permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[MessageTemplate]) -> None:
        self._each(request, queryset, "approved", lambda t: template_approve(template=t, actor=_staff(request)))

    @admin.action(description="Reject, with a reason", permissions=["approve"])
    def reject(self, request: HttpRequest, queryset: QuerySet[MessageTemplate]) -> HttpResponse | None:
        reason = self._reason(request)
        if reason is None:
            return self._ask(request, queryset, "reject", "Reject", "Why are these revisions rejected?")
        self._each(request, queryset, "rejected", lambda t: template_reject(template=t, actor=_staff(request), reason=reason))
        return None

    @admin.action(description="Submit to Meta", permissions=["submit_meta"])
    def submit_to_meta(self, request: HttpRequest, queryset: QuerySet[MessageTemplate]) -> None:
        def submit(template: MessageTemplate) -> None:
            revision = template_submit_to_meta(template=template, actor=_staff(request))
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
                   lambda t: template_release_hold(template=t, actor=_staff(request), note=note))
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
            template_hold(template=template, reason=HoldReason.RECATEGORISED, actor=_staff(request),
                          note=f"Held before Meta's recategorisation to {template.scheduled_category}: {note}")

        self._each(request, queryset, "held", hold)
        return None

    @admin.action(description="Pull statuses from Meta now", permissions=["submit_meta"])
    def pull_from_meta(self, request: HttpRequest, queryset: QuerySet[MessageTemplate]) -> None:
        try:
            report = template_sync_from_meta(actor=_staff(request))
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
                template_approve(template=revision.template, actor=_staff(request), note=note)
            else:
                template_reject(template=revision.template, actor=_staff(request), reason=note)
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


@admin.register(TemplateStatusEvent)
class TemplateStatusEventAdmin(ReadOnlyAdminMixin, ModelAdmin[TemplateStatusEvent]):
    list_display = ("created_at", "template", "kind", "source", "old_value", "new_value", "reason", "actor")
    list_filter = ("kind", "source")
    search_fields = ("template__name", "reason")
    list_select_related = ("template", "actor")
    date_hierarchy = "created_at"


@admin.register(LintTerm)
class LintTermAdmin(ModelAdmin[LintTerm]):
    list_display = ("term", "kind", "active", "note", "created_at")
    list_filter = ("kind", "active")
    search_fields = ("term",)
    fields = ("kind", "term", "active", "note")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: the findings of past revisions name the term

    def save_model(self, request: HttpRequest, obj: LintTerm, form: Any, change: bool) -> None:
        lint_term_save(term=obj, actor=_staff(request))
@admin.register(MessageRate)
class MessageRateAdmin(ModelAdmin[MessageRate]):
    """The rate card the dashboard prices billable messages with. Meta changes a rate from a date:
    add a line with that `effective_from` (the old line keeps pricing the months before it)."""

    list_display = ("market", "category", "rate", "currency", "effective_from", "checked_on", "source_url")
    list_filter = ("market", "category", "currency")
    fields = ("market", "category", "currency", "rate", "effective_from", "source_url", "checked_on", "note")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a rate that was in force stays on the card: past months were priced with it


from messaging import admin_sending  # noqa: E402,F401  (messages, campaigns, sending policy)
