"""The complaint page's parts: the queue filter, the action timeline, the staff forms (intake,
resolve, hand-off)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from complaints import selectors
from complaints.models import (
    API_CATEGORIES,
    API_CHANNELS,
    DESCRIPTION_MAX_LENGTH,
    Acknowledgement,
    Complaint,
    ComplaintAction,
    Outcome,
)
from complaints.services.common import PERM_INVESTIGATE
from pandorakart_wa.core.admin.generics import TabularInline
from pandorakart_wa.core.admin.mixins import (
    ReadOnlyAdminMixin,
)
from pandorakart_wa.core.phones import InvalidPhoneNumber, mask_phone, normalize_phone


def request_may(request: HttpRequest, permission: str) -> bool:
    return bool(request.user.has_perm(permission))


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
            ("ready", "Ready for an officer"),
            ("unassigned", "Unassigned"),
            ("overdue", "Overdue"),
            ("escalated", "Escalated to the DPO"),
            ("ack_owed", "Receipt owed by staff"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "mine":
            return selectors.queue_mine(queryset, request.user)
        if value == "ready":
            return selectors.queue_ready_for_officer(queryset)
        if value == "unassigned":
            return selectors.queue_unassigned(queryset)
        if value == "overdue":
            return selectors.queue_overdue(queryset)
        if value == "escalated":
            return selectors.queue_escalated(queryset)
        if value == "ack_owed":
            return queryset.filter(acknowledgement=Acknowledgement.OWED)
        return queryset


class ComplaintActionInline(ReadOnlyAdminMixin, TabularInline[ComplaintAction, Complaint]):
    """The timeline: every action, oldest first, read-only for everyone."""

    model = ComplaintAction
    verbose_name = "timeline entry"
    verbose_name_plural = "timeline"
    fields = ("at", "kind", "from_status", "to_status", "by", "note", "visibility")
    readonly_fields = fields
    ordering = ("at", "id")
    extra = 0
    can_delete = False

    @admin.display(description="by")
    def by(self, action: ComplaintAction) -> str:
        return action.actor_label or "the service"

    @admin.display(description="visible to")
    def visibility(self, action: ComplaintAction) -> str:
        return "staff only" if action.internal else "customer too"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request_may(request, "complaints.view_complaint")


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
    # No outcome is chosen for the officer: a default invites a wrong resolution.
    outcome = forms.ChoiceField(choices=[("", "— choose the outcome —"), *Outcome.choices],
                                error_messages={"required": "Choose the outcome."})
    resolution = forms.CharField(
        label="What the customer is told", widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        error_messages={"required": "Write the resolution the customer is told."},
    )


class HandOffForm(forms.Form):
    findings = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
                               error_messages={"required": "Write the findings the officer decides on."})
    proposed_outcome = forms.ChoiceField(choices=[("", "— no proposal —"), *Outcome.choices], required=False)


def assignable_staff() -> QuerySet[Any]:
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
