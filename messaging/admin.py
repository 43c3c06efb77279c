"""Staff screens of the messaging app. Templates part: the editor with its lint findings beside
it, the four-eyes workflow as permission-gated actions, Meta's status and quality history.
Every write goes through messaging.services."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from messaging.models import (
    LintTerm,
    MessageTemplate,
    TemplateRevision,
    TemplateStatusEvent,
)
from messaging.selectors import template_usable
from messaging.services import (
    TemplateFields,
    lint_term_save,
    template_approve,
    template_create_draft,
    template_reject,
    template_release_hold,
    template_revise,
    template_submit_for_review,
    template_submit_to_meta,
    template_sync_from_meta,
)
from messaging.tasks import template_submit_later
from messaging.template_format import variable_count
from pandorakart_wa.admin_mixins import ReadOnlyAdminMixin
from pandorakart_wa.admin_site import reader_may
from pandorakart_wa.timefmt import staff_time
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


class TemplateEditForm(forms.ModelForm):
    """The template's identity plus the content of its current revision. Saving changed content
    writes a new revision (the service), which must be reviewed again."""

    header_text = forms.CharField(required=False, widget=forms.TextInput(attrs={"size": 70}),
                                  help_text="Optional text header: at most 60 characters and one variable {{1}}.")
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 6, "cols": 90}),
                           help_text="At most 1024 characters; variables {{1}}, {{2}}... in order, not at the start or end.")
    footer = forms.CharField(required=False, widget=forms.TextInput(attrs={"size": 70}),
                             help_text='At most 60 characters. Marketing: e.g. "Reply STOP to opt out".')
    buttons = forms.JSONField(
        required=False, initial=list, widget=forms.Textarea(attrs={"rows": 4, "cols": 90}),
        help_text='A list, e.g. [{"type": "QUICK_REPLY", "text": "Stop promotions"}, {"type": "URL", "text": '
        '"Track order", "url": "https://www.pandorakart.com/orders/{{1}}", "example": "PK-10023"}].',
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

    def clean_buttons(self) -> list[dict[str, Any]]:
        buttons = self.cleaned_data.get("buttons") or []
        if not isinstance(buttons, list) or not all(isinstance(b, dict) for b in buttons):
            raise ValidationError("Buttons are a JSON list of objects.")
        return buttons

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


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
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
class MessageTemplateAdmin(admin.ModelAdmin):
    form = TemplateEditForm
    list_display = ("name", "language", "category", "purpose", "status", "meta_status", "quality", "usable",
                    "hold_reason", "updated_at")
    list_filter = ("category", "status", "meta_status", "quality", "hold_reason", "language")
    search_fields = ("name",)
    list_select_related = ("approved_revision",)
    inlines = (RevisionInline, StatusEventInline)
    actions = ("submit_for_review", "approve", "reject", "submit_to_meta", "release_hold", "pull_from_meta")
    readonly_fields = ("attention", "usable_now", "purpose", "status", "meta_status", "meta_reason", "quality",
                       "meta_template_id", "meta_synced_at", "lint_findings", "in_use")

    def get_fieldsets(self, request: HttpRequest, obj: MessageTemplate | None = None) -> Any:
        content = ("header_text", "body", "footer", "buttons", "header_examples", "body_examples")
        if obj is None:
            return [(None, {"fields": ("name", "language", "category")}), ("Content", {"fields": content})]
        return [
            ("Needs attention", {"fields": ("attention", "usable_now")}),
            (None, {"fields": ("name", "language", "category", "purpose", "status")}),
            ("Content of the current revision (saving a change writes a new revision for review)",
             {"fields": (*content, "lint_findings")}),
            ("In use", {"fields": ("in_use",)}),
            ("Meta", {"fields": ("meta_template_id", "meta_status", "meta_reason", "quality", "meta_synced_at")}),
        ]

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


@admin.register(TemplateRevision)
class TemplateRevisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("template", "number", "status", "category", "author", "reviewed_by", "lint_error_count", "created_at")
    list_filter = ("status", "category")
    search_fields = ("template__name", "body")
    list_select_related = ("template", "author", "reviewed_by")
    fields = ("template", "number", "status", "category", "header_text", "body", "footer", "buttons_display",
              "header_examples", "body_examples", "lint_report", "author", "reviewed_by", "reviewed_at", "review_note",
              "submitted_at", "created_at", "messages_sent")
    readonly_fields = fields

    @admin.display(description="Buttons")
    def buttons_display(self, obj: TemplateRevision) -> str:
        return json.dumps(obj.buttons, ensure_ascii=False, indent=1)

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
class TemplateStatusEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "template", "kind", "source", "old_value", "new_value", "reason", "actor")
    list_filter = ("kind", "source")
    search_fields = ("template__name", "reason")
    list_select_related = ("template", "actor")
    date_hierarchy = "created_at"


@admin.register(LintTerm)
class LintTermAdmin(admin.ModelAdmin):
    list_display = ("term", "kind", "active", "note", "created_at")
    list_filter = ("kind", "active")
    search_fields = ("term",)
    fields = ("kind", "term", "active", "note")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: the findings of past revisions name the term

    def save_model(self, request: HttpRequest, obj: LintTerm, form: Any, change: bool) -> None:
        lint_term_save(term=obj, actor=_staff(request))
from messaging import admin_sending  # noqa: E402,F401  (messages, campaigns, sending policy)
