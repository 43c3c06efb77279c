"""Block/report signals (read-only) and the WhatsApp intake words staff edit."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from complaints.intake import normalize_phrase
from complaints.models import (
    ComplaintSignal,
    IntakeTrigger,
)
from complaints.services.intake_words import intake_trigger_save
from pandorakart_wa.core.admin.generics import ModelAdmin, ModelForm
from pandorakart_wa.core.admin.mixins import (
    AuditTrailMixin,
    ReadOnlyAdminMixin,
)


@admin.register(ComplaintSignal)
class ComplaintSignalAdmin(ReadOnlyAdminMixin, ModelAdmin[ComplaintSignal]):
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


class IntakeTriggerForm(ModelForm[IntakeTrigger]):
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
class IntakeTriggerAdmin(AuditTrailMixin, ModelAdmin[IntakeTrigger]):
    form = IntakeTriggerForm
    list_display = ("phrase", "kind", "whole_message", "active")
    list_filter = ("kind", "whole_message", "active")
    search_fields = ("phrase",)

    def save_model(self, request: HttpRequest, obj: IntakeTrigger, form: Any, change: bool) -> None:
        intake_trigger_save(trigger=obj, actor=request.user)  # type: ignore[arg-type]
