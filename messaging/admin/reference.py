"""Meta's status history, the lint's term lists and the rate card."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from messaging.admin.common import staff_of
from messaging.models import (
    LintTerm,
    MessageRate,
    TemplateStatusEvent,
)
from messaging.services.holds import lint_term_save
from pandorakart_wa.core.admin.generics import ModelAdmin
from pandorakart_wa.core.admin.mixins import ReadOnlyAdminMixin


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
        lint_term_save(term=obj, actor=staff_of(request))


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

