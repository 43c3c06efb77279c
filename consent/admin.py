"""Staff screens of the consent app. Every write goes through consent.services.

- Contacts: masked numbers, state per purpose, the per-contact ledger timeline, filters, an
  opt-out and block/unblock through the services (with a reason), and "reveal number" behind
  the `consent.reveal_phone` permission, each reveal recorded in the audit trail.
- Ledger events and verification runs: read-only for everyone, superusers included.
- Notices: drafts are edited through notice_save, published by an action; published = read-only.
- Keywords: staff-editable list (normalised and checked for clashes by keyword_save).
- Consent managers: the register (consent_manager_save), their keys and artefacts (read-only).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from consent.keywords import normalize_keyword
from consent.log import b64
from consent.managers import consent_manager_check, consent_manager_save
from consent.models import (
    ConsentArtefactAction,
    ConsentEvent,
    ConsentManager,
    ConsentManagerKey,
    ConsentNotice,
    ConsentState,
    Contact,
    LedgerCheckpoint,
    LedgerVerification,
    OptOutKeyword,
    Source,
    Status,
)
from consent.purposes import Purpose
from consent.services.blocking import contact_block, contact_unblock
from consent.services.common import ConsentError
from consent.services.notices import keyword_save, notice_publish, notice_save
from consent.services.optin import consent_opt_out
from consent.types import Actor
from pandorakart_wa.core.admin.generics import ModelAdmin, ModelForm, TabularInline
from pandorakart_wa.core.admin.mixins import ReadOnlyAdminMixin
from pandorakart_wa.core.audit import log_access
from pandorakart_wa.core.correlation import get_correlation_id
from pandorakart_wa.core.phones import InvalidPhoneNumber, normalize_phone, phone_digest
from pandorakart_wa.core.timefmt import staff_time

STATUS_ICONS = {Status.OPTED_IN: "✓", Status.OPTED_OUT: "out", Status.NONE: "\u2014"}
STATUS_WORDS = {Status.OPTED_IN: "opted in", Status.OPTED_OUT: "opted out", Status.NONE: "not asked"}


# --- Contacts -----------------------------------------------------------------------------


class PurposeStatusFilter(admin.SimpleListFilter):
    title = "consent"
    parameter_name = "consent"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (f"{purpose}:{status}", f"{label}: {status_label}")
            for purpose, label in Purpose.choices
            for status, status_label in Status.choices
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value or ":" not in value:
            return queryset
        purpose, status = value.split(":", 1)
        if status == Status.NONE:
            has_state = ConsentState.objects.filter(contact=OuterRef("pk"), purpose=purpose)
            return queryset.filter(~Exists(has_state))
        return queryset.filter(consent_states__purpose=purpose, consent_states__status=status)


class ConsentSourceFilter(admin.SimpleListFilter):
    title = "source of a consent change"
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(Source.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value():
            return queryset.filter(consent_states__source=self.value()).distinct()
        return queryset


class ConsentStateInline(ReadOnlyAdminMixin, TabularInline[ConsentState, Contact]):
    model = ConsentState
    fields = ("purpose", "status", "since", "source", "notice_version")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True  # shown inside a contact the user may already see


class ConsentEventInline(ReadOnlyAdminMixin, TabularInline[ConsentEvent, Contact]):
    """The contact's timeline: every ledger event, oldest first."""

    model = ConsentEvent
    fk_name = "contact"
    verbose_name = "ledger event"
    verbose_name_plural = "timeline (consent ledger)"
    fields = ("sequence", "occurred_at", "action", "purpose", "source", "notice_version", "actor", "recorded_at")
    readonly_fields = fields
    ordering = ("id",)
    extra = 0
    can_delete = False
    show_change_link = True

    @admin.display(description="actor")
    def actor(self, event: ConsentEvent) -> str:
        return f"{event.get_actor_type_display()}: {event.actor_label}" if event.actor_label else event.actor_type

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("consent.view_consentevent"))


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=400, widget=forms.Textarea(attrs={"rows": 3}), help_text="Recorded.")
    purposes = forms.MultipleChoiceField(
        choices=Purpose.choices, widget=forms.CheckboxSelectMultiple, required=False,
        help_text="Opt-out only: none ticked means every purpose.",
    )


@admin.register(Contact)
class ContactAdmin(ReadOnlyAdminMixin, ModelAdmin[Contact]):  # every change is a service call (the actions)
    list_display = (
        "masked",
        "consent_summary",
        "flags",
        "last_inbound_at",
        "created_at",
    )
    list_filter = (PurposeStatusFilter, ConsentSourceFilter, "blocked", "erased", "undeliverable", "created_at")
    date_hierarchy = "created_at"
    search_fields = ("uid",)
    search_help_text = "A full phone number in any format (looked up by its digest), or a contact id c_..."
    fields = (
        "masked_number",
        "public",
        "user_id",
        "blocked",
        "blocked_reason",
        "blocked_at",
        "erased",
        "erased_at",
        "undeliverable",
        "undeliverable_at",
        "last_inbound_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = (ConsentStateInline, ConsentEventInline)
    actions = ("opt_out_action", "block_action", "unblock_action")
    list_per_page = 50

    def has_opt_out_contact_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("consent.opt_out_contact"))

    def has_block_contact_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("consent.block_contact"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        return super().get_queryset(request).prefetch_related("consent_states")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Contact], search_term: str
    ) -> tuple[QuerySet[Contact], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.startswith("c_") and len(term) == 34:
            return queryset.filter(uid=term[2:]), False
        try:
            digest = phone_digest(normalize_phone(term))
        except InvalidPhoneNumber:
            return queryset.filter(Q(user_id=term)), False
        return queryset.filter(phone_digest=digest), False

    @admin.display(description="phone")
    def masked(self, contact: Contact) -> str:
        if contact.erased:
            return "(erased)"
        return contact.masked_phone or f"BSUID {contact.user_id}"

    @admin.display(description="phone number")
    def masked_number(self, contact: Contact) -> str:
        return self.masked(contact)

    @admin.display(description="contact id")
    def public(self, contact: Contact) -> str:
        return contact.public_id

    @admin.display(description="consent per purpose")
    def consent_summary(self, contact: Contact) -> str:
        """One chip per purpose on one line: opted in, opted out, or not asked. A purpose never
        asked is grey, not red: most customers never give every consent, and that is no error."""
        states = {s.purpose: s.status for s in contact.consent_states.all()}
        return format_html(
            '<span class="pk-chips" style="flex-wrap:nowrap">{}</span>',
            format_html_join(
                "", '<span class="pk-chip {}" title="{}: {}">{} {}</span>', (
                    (status, label, STATUS_WORDS[status], label.split(" ")[0], STATUS_ICONS[status])
                    for p, label in Purpose.choices
                    for status in [Status(states.get(p, Status.NONE))]
                ),
            ),
        )

    @admin.display(description="flags")
    def flags(self, contact: Contact) -> str:
        """Only what is true (blocked, erased, not on WhatsApp): three red crosses per row read as errors."""
        shown = [label for flag, label in ((contact.blocked, "blocked"), (contact.erased, "erased"),
                                          (contact.undeliverable, "not on WhatsApp")) if flag]
        if not shown:
            return "—"
        return format_html_join(" ", '<span class="pk-chip flag">{}</span>', ((label,) for label in shown))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        may_reveal = request.user.has_perm("consent.reveal_phone")
        extra = {**(extra_context or {}), "may_reveal": may_reveal,
                 "reveal_url": reverse("admin:consent_contact_reveal", args=[object_id]) if may_reveal else ""}
        return super().change_view(request, object_id, form_url, extra)

    change_form_template = "consent/admin/contact_change_form.html"

    def get_urls(self) -> list[URLPattern]:
        urls: list[URLPattern] = [
            path("<int:contact_id>/reveal/", self.admin_site.admin_view(self.reveal_view),
                 name="consent_contact_reveal"),
        ]
        return urls + super().get_urls()

    def reveal_view(self, request: HttpRequest, contact_id: int) -> HttpResponse:
        """Show the full number once, after recording who saw it (POST only: no prefetching)."""
        if not request.user.has_perm("consent.reveal_phone"):
            raise PermissionDenied
        return _reveal(request, self, contact_id)

    # --- actions (through the services) ---

    def _reason_step(self, request: HttpRequest, queryset: QuerySet[Contact], action: str, title: str) -> Any:
        if "apply" in request.POST:
            form = ReasonForm(request.POST)
            if form.is_valid():
                return form
        else:
            form = ReasonForm()
        return TemplateResponse(
            request,
            "consent/admin/reason.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "contacts": queryset,
                "form": form,
                "action": action,
                "show_purposes": action == "opt_out_action",
                "opts": self.model._meta,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Opt out (with a reason)", permissions=["opt_out_contact"])
    def opt_out_action(self, request: HttpRequest, queryset: QuerySet[Contact]) -> Any:
        step = self._reason_step(request, queryset, "opt_out_action", "Opt the selected contacts out")
        if not isinstance(step, ReasonForm):
            return step
        actor = Actor.staff(request.user)
        purposes = step.cleaned_data["purposes"] or None
        done = skipped = 0
        for contact in queryset:
            if not contact.phone:
                skipped += 1  # erased (already suppressed) or known only by BSUID
                continue
            consent_opt_out(phone=contact.phone, purposes=purposes, source=Source.SUPPORT_AGENT, actor=actor,
                            reason=step.cleaned_data["reason"])
            done += 1
        self.message_user(request, f"{done} contact(s) opted out; {skipped} without a number skipped.",
                          messages.SUCCESS)
        return None

    @admin.action(description="Block (with a reason)", permissions=["block_contact"])
    def block_action(self, request: HttpRequest, queryset: QuerySet[Contact]) -> Any:
        step = self._reason_step(request, queryset, "block_action", "Block the selected contacts")
        if not isinstance(step, ReasonForm):
            return step
        for contact in queryset:
            contact_block(contact=contact, reason=step.cleaned_data["reason"], actor=Actor.staff(request.user))
        self.message_user(request, f"{queryset.count()} contact(s) blocked.", messages.SUCCESS)
        return None

    @admin.action(description="Unblock (with a reason)", permissions=["block_contact"])
    def unblock_action(self, request: HttpRequest, queryset: QuerySet[Contact]) -> Any:
        step = self._reason_step(request, queryset, "unblock_action", "Unblock the selected contacts")
        if not isinstance(step, ReasonForm):
            return step
        for contact in queryset:
            contact_unblock(contact=contact, reason=step.cleaned_data["reason"], actor=Actor.staff(request.user))
        self.message_user(request, f"{queryset.count()} contact(s) unblocked.", messages.SUCCESS)
        return None


@require_POST
def _reveal(request: HttpRequest, model_admin: ContactAdmin, contact_id: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=contact_id)
    if not contact.phone:
        messages.warning(request, "This contact holds no number (erased, or known only by its WhatsApp user id).")
        return HttpResponseRedirect(reverse("admin:consent_contact_change", args=[contact.pk]))
    entry = log_access(user=request.user, obj_or_label=contact, what="revealed full phone number")  # type: ignore[arg-type]
    return TemplateResponse(
        request,
        "consent/admin/reveal.html",
        {
            **model_admin.admin_site.each_context(request),
            "title": f"Phone number of {contact.public_id}",
            "contact": contact,
            "phone": contact.phone,
            "correlation_id": entry.cid or get_correlation_id(),
            "opts": Contact._meta,
        },
    )


# --- Ledger (read-only) -------------------------------------------------------------------


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdminMixin, ModelAdmin[ConsentEvent]):
    list_display = ("sequence", "occurred_at", "contact_masked", "purpose", "action", "source", "notice_version",
                    "actor_type", "actor_label", "recorded_at")
    list_filter = ("purpose", "action", "source", "actor_type", "occurred_at", "recorded_at")
    date_hierarchy = "occurred_at"
    list_select_related = ("contact",)
    search_fields = ("=uid", "=notice_version", "=hash")
    ordering = ("-id",)
    fields = ("sequence", "public", "batch", "contact", "purpose", "action", "source", "notice_version",
              "notice_sha256", "evidence_sha256", "evidence_data", "actor_type", "actor_id", "actor_label",
              "occurred_at", "recorded_at", "prev_hash", "hash")
    readonly_fields = fields
    show_full_result_count = False  # the ledger is large: skip the extra COUNT(*)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}

    @admin.display(description="contact")
    def contact_masked(self, event: ConsentEvent) -> str:
        return str(event.contact)

    @admin.display(description="event id")
    def public(self, event: ConsentEvent) -> str:
        return event.public_id

    @admin.display(description="evidence")
    def evidence_data(self, event: ConsentEvent) -> str:
        evidence = getattr(event, "evidence", None)
        if evidence is None:
            return "-"
        if evidence.data is None:
            return f"erased {staff_time(evidence.erased_at)}" if evidence.erased_at else "erased"
        return format_html_join("", "<div><b>{}</b>: {}</div>", ((k, v) for k, v in evidence.data.items()))


@admin.register(ConsentState)
class ConsentStateAdmin(ReadOnlyAdminMixin, ModelAdmin[ConsentState]):
    list_display = ("contact", "purpose", "status", "since", "source", "notice_version")
    list_filter = ("purpose", "status", "source", "since")
    list_select_related = ("contact",)
    date_hierarchy = "since"
    fields = ("contact", "purpose", "status", "since", "source", "notice_version", "last_event", "updated_at")
    readonly_fields = fields

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}


@admin.register(LedgerVerification)
class LedgerVerificationAdmin(ReadOnlyAdminMixin, ModelAdmin[LedgerVerification]):
    list_display = ("started_at", "ok", "events_checked", "checkpoints_checked", "head_sequence", "first_bad_event",
                    "problem", "triggered_by")
    list_filter = ("ok",)
    readonly_fields = ("started_at", "finished_at", "ok", "events_checked", "checkpoints_checked", "head_sequence",
                       "head_hash", "first_bad_sequence", "first_bad_event", "problem", "triggered_by")

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}


@admin.register(LedgerCheckpoint)
class LedgerCheckpointAdmin(ReadOnlyAdminMixin, ModelAdmin[LedgerCheckpoint]):
    """The signed tree heads: each note is what an auditor or witness checks (also in
    LEDGER_CHECKPOINT_DIR)."""

    list_display = ("tree_size", "signed_at", "origin")
    date_hierarchy = "signed_at"
    fields = ("tree_size", "signed_at", "origin", "root", "note")
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="root hash (base64)")
    def root(self, checkpoint: LedgerCheckpoint) -> str:
        return b64(bytes(checkpoint.root_hash))

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}


# --- Notices ------------------------------------------------------------------------------


@admin.register(ConsentNotice)
class ConsentNoticeAdmin(ModelAdmin[ConsentNotice]):
    list_display = ("version", "language", "title", "published_at", "text_sha256_short")
    list_filter = ("language", ("published_at", admin.EmptyFieldListFilter))
    search_fields = ("version", "title")
    fields = ("version", "language", "title", "text", "items", "purposes", "withdrawal_instructions",
              "complaint_instructions", "business_name", "business_contact", "text_sha256", "published_at")
    actions = ("publish_action",)

    def get_readonly_fields(self, request: HttpRequest, obj: ConsentNotice | None = None) -> Any:
        if obj is not None and obj.is_published:
            return self.fields  # immutable once published: a new wording is a new version
        return ("text_sha256", "published_at")

    def has_change_permission(self, request: HttpRequest, obj: ConsentNotice | None = None) -> bool:
        # A published notice is shown read-only (view permission), never saved again.
        return (obj is None or not obj.is_published) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: ConsentNotice | None = None) -> bool:
        return obj is not None and not obj.is_published and super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="content digest")
    def text_sha256_short(self, notice: ConsentNotice) -> str:
        return notice.text_sha256[:16]

    def save_model(self, request: HttpRequest, obj: ConsentNotice, form: Any, change: bool) -> None:
        notice_save(notice=obj)

    @admin.action(description="Publish (freezes the wording)", permissions=["change"])
    def publish_action(self, request: HttpRequest, queryset: QuerySet[ConsentNotice]) -> None:
        for notice in queryset:
            try:
                notice_publish(notice=notice, actor=Actor.staff(request.user))
            except ConsentError as exc:
                self.message_user(request, f"{notice.version}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{notice.version} published.", messages.SUCCESS)


# --- Keywords -----------------------------------------------------------------------------


class OptOutKeywordForm(ModelForm[OptOutKeyword]):
    class Meta:
        model = OptOutKeyword
        fields = ("phrase", "action", "scope", "language", "reply_text", "active")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        normalized = normalize_keyword(data.get("phrase") or "")
        if not normalized:
            self.add_error("phrase", "A keyword needs at least one letter.")
        clash = OptOutKeyword.objects.filter(normalized=normalized).exclude(pk=self.instance.pk).first()
        if normalized and clash is not None:
            self.add_error("phrase", f"Matches the existing keyword {clash.phrase!r}.")
        if data.get("action") == OptOutKeyword.KeywordAction.OPT_OUT and not data.get("scope"):
            self.add_error("scope", "An opt-out keyword needs a scope.")
        if data.get("action") == OptOutKeyword.KeywordAction.PREFERENCES and data.get("reply_text") and (
            "{link}" not in data["reply_text"]
        ):
            self.add_error("reply_text", "Put {link} where the customer's preference-centre link goes.")
        return data


@admin.register(OptOutKeyword)
class OptOutKeywordAdmin(ModelAdmin[OptOutKeyword]):
    form = OptOutKeywordForm
    list_display = ("phrase", "action", "scope", "language", "active", "reply_text")
    list_filter = ("action", "scope", "language", "active")
    list_editable = ("active",)
    search_fields = ("phrase",)

    def save_model(self, request: HttpRequest, obj: OptOutKeyword, form: Any, change: bool) -> None:
        keyword_save(keyword=obj)


# --- Registered consent managers -----------------------------------------------------------


class ConsentManagerForm(ModelForm[ConsentManager]):
    class Meta:
        model = ConsentManager
        fields = ("registration_id", "name", "active")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        candidate = ConsentManager(pk=self.instance.pk, registration_id=data.get("registration_id") or "",
                                   name=data.get("name") or "", active=bool(data.get("active")))
        try:
            consent_manager_check(candidate)
        except ConsentError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, str(exc))
        if self.instance.pk and data.get("registration_id") != self.instance.registration_id and (
            self.instance.artefact_actions.exists()
        ):
            self.add_error("registration_id", "The registration id is in the ledger already; it cannot change.")
        return data


class ConsentManagerKeyInline(ReadOnlyAdminMixin, TabularInline[ConsentManagerKey, ConsentManager]):
    model = ConsentManagerKey
    fields = ("key_prefix", "key_name", "key_revoked", "created_at")
    readonly_fields = fields
    extra = 0
    verbose_name_plural = "API keys bound to this manager (create_api_key NAME --scope consent_manager --consent-manager ID)"

    @admin.display(description="key prefix")
    def key_prefix(self, binding: ConsentManagerKey) -> str:
        return f"{binding.api_key.prefix}…"

    @admin.display(description="name")
    def key_name(self, binding: ConsentManagerKey) -> str:
        return str(binding.api_key.name)

    @admin.display(description="revoked", boolean=True)
    def key_revoked(self, binding: ConsentManagerKey) -> bool:
        return bool(binding.api_key.revoked)


@admin.register(ConsentManager)
class ConsentManagerAdmin(ModelAdmin[ConsentManager]):
    """The register of consent managers (DPDP s.6(7)-(9), Rules r.4). Saved through
    consent_manager_save; never deleted (their artefacts are in the ledger)."""

    form = ConsentManagerForm
    list_display = ("registration_id", "name", "active", "keys", "artefact_count", "created_at")
    list_filter = ("active",)
    search_fields = ("registration_id", "name")
    readonly_fields = ("created_at", "updated_at")
    inlines = [ConsentManagerKeyInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ConsentManager]:
        from django.db.models import Count

        return super().get_queryset(request).annotate(
            key_count=Count("keys", distinct=True), artefacts=Count("artefact_actions__artefact_id", distinct=True)
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="API keys", ordering="key_count")
    def keys(self, manager: Any) -> int:
        return int(manager.key_count)

    @admin.display(description="artefacts", ordering="artefacts")
    def artefact_count(self, manager: Any) -> int:
        return int(manager.artefacts)

    def save_model(self, request: HttpRequest, obj: ConsentManager, form: Any, change: bool) -> None:
        consent_manager_save(manager=obj, actor=Actor.staff(request.user))


@admin.register(ConsentArtefactAction)
class ConsentArtefactActionAdmin(ReadOnlyAdminMixin, ModelAdmin[ConsentArtefactAction]):
    """Each consent manager's grants and withdrawals, with the ledger events they wrote."""

    list_display = ("artefact_id", "manager", "action", "contact", "purposes", "occurred_at", "recorded_at")
    list_filter = ("manager", "action", "recorded_at")
    list_select_related = ("manager", "contact")
    search_fields = ("=artefact_id",)
    fields = ("manager", "artefact_id", "action", "contact", "purposes", "notice_version", "receipt",
              "occurred_at", "recorded_at")
    readonly_fields = fields

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}
