"""The template editor's form and the revision and status-history inlines."""

from __future__ import annotations

from typing import Any

from django import forms

from messaging.admin.common import text_lines
from messaging.admin.widgets import ButtonsField
from messaging.models import (
    MessageTemplate,
    TemplateRevision,
    TemplateStatusEvent,
)
from messaging.services.common import TemplateFields
from pandorakart_wa.core.admin.generics import ModelForm, TabularInline
from pandorakart_wa.core.admin.mixins import ReadOnlyAdminMixin


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
            buttons=data.get("buttons") or [], header_examples=text_lines(data.get("header_examples") or ""),
            body_examples=text_lines(data.get("body_examples") or ""),
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
