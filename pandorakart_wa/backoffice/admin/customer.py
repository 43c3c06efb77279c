"""The single customer page and "find a customer by number", for every role that may see contacts.

The contact's admin page (consent.admin.ContactAdmin) becomes the customer page here, in the
back office, which may read every app: the consent now and the ledger, the messages we sent
with their statuses, what the customer sent us (the webhooks' items), their complaints, the
evidence pack and the reveal. It is reached from a complaint, a message, or a search by number.

A number is never put in a URL (access logs, browser history, the Referer header): it is
POSTed to the find view, which answers with a redirect to the contact's page, or to a list
filtered by the number's keyed digest (which reveals nothing).
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

import consent.admin as consent_admin  # registers ContactAdmin first: it is replaced below
from consent.models import Contact
from consent.selectors import contact_get
from pandorakart_wa.backoffice import models as dashboard_perms
from pandorakart_wa.backoffice.customer import customer_page
from pandorakart_wa.core.admin.mixins import PhoneDigestFilter, refuse_number_in_url
from pandorakart_wa.core.audit import log_access
from pandorakart_wa.core.phones import InvalidPhoneNumber, normalize_phone, phone_digest
from pandorakart_wa.core.timefmt import staff_time

CONTACT_ID = re.compile(r"c_[0-9a-f]{32}")

# Where "Find by number" may lead, and what the user must hold to go there.
TARGETS: dict[str, str] = {
    "customer": "consent.view_contact",
    "complaints": "complaints.view_complaint",
    "messages": "messaging.view_message",
    "evidence": dashboard_perms.VIEW_EVIDENCE_PACK,
}


class CustomerAdmin(consent_admin.ContactAdmin):
    """The contact's page as the one customer page (see the module docstring)."""

    change_form_template = "admin/customer/contact_change_form.html"
    change_list_template = "admin/customer/contact_change_list.html"
    list_filter = (*consent_admin.ContactAdmin.list_filter, PhoneDigestFilter)  # type: ignore[assignment]
    search_help_text = "A contact id (c_…) or a WhatsApp user id. To find a customer by number, use “Find by number”."
    # The record below the timeline: what the header does not already say, in words (a column of
    # red crosses for "not blocked, not erased, reachable" read as errors).
    fields = ("masked_number", "public", "user_id", "standing", "last_inbound_at", "created_at",  # type: ignore[assignment]
              "updated_at")
    readonly_fields = fields  # type: ignore[assignment]

    @admin.display(description="standing")
    def standing(self, contact: Contact) -> str:
        if contact.erased:
            return f"Erased on {staff_time(contact.erased_at)}: suppressed for every purpose, no number held."
        parts = []
        if contact.blocked:
            parts.append(f"Blocked since {staff_time(contact.blocked_at)}: {contact.blocked_reason or 'no reason given'}.")
        if contact.undeliverable:
            parts.append(f"Not on WhatsApp (Meta, {staff_time(contact.undeliverable_at)}).")
        return " ".join(parts) or "Can be messaged for the purposes opted in to."

    def get_urls(self) -> list[URLPattern]:
        urls: list[URLPattern] = [
            path("find/", self.admin_site.admin_view(find_view), name="consent_contact_find"),
        ]
        return urls + super().get_urls()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Contact], search_term: str
    ) -> tuple[QuerySet[Contact], bool]:
        refused = refuse_number_in_url(request, queryset, search_term.strip())
        if refused is not None:
            return refused
        return super().get_search_results(request, queryset, search_term)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        contact = contact_get(pk=int(object_id)) if object_id.isdigit() else None
        extra: dict[str, Any] = dict(extra_context or {})
        if contact is not None and self.has_view_permission(request, contact):
            user: Any = request.user
            # What the customer wrote and what we sent them is personal data: every look is on record.
            log_access(user=user, obj_or_label=contact, what="viewed the customer page (messages both ways)")
            extra.update(
                title="Customer",
                customer=customer_page(contact),
                contact_obj=contact,
                evidence_url=reverse("dashboard:evidence_pack", kwargs={"contact_id": contact.public_id})
                if user.has_perm(dashboard_perms.VIEW_EVIDENCE_PACK) else "",
                complaints_url=reverse("admin:complaints_complaint_changelist") + "?" + urlencode(
                    {"digest": contact.phone_digest}) if contact.phone_digest and user.has_perm(
                    "complaints.view_complaint") else "",
                messages_url=reverse("admin:messaging_message_changelist") + "?" + urlencode(
                    {"digest": contact.phone_digest}) if contact.phone_digest and user.has_perm(
                    "messaging.view_message") else "",
                may_opt_out=user.has_perm("consent.opt_out_contact"),
                may_block=user.has_perm("consent.block_contact"),
                changelist_url=reverse("admin:consent_contact_changelist"),
            )
        return super().change_view(request, object_id, form_url, extra)


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("admin:index")


def find_view(request: HttpRequest) -> HttpResponse:
    """POST `phone` (any usual format), a contact id or a BSUID, and `target`: the customer page,
    their complaints, their messages or their evidence pack. The number is never echoed back."""
    if request.method != "POST":
        return HttpResponseRedirect(reverse("admin:index"))
    target = request.POST.get("target") or "customer"
    permission = TARGETS.get(target)
    if permission is None:
        messages.error(request, "Unknown destination for the search.")
        return HttpResponseRedirect(_back(request))
    if not request.user.has_perm(permission):
        raise PermissionDenied
    term = (request.POST.get("phone") or "").strip()
    if not term:
        messages.error(request, "Type the customer's number (or a contact id c_…).")
        return HttpResponseRedirect(_back(request))
    digest = ""
    contact: Contact | None = None
    if CONTACT_ID.fullmatch(term):
        contact = contact_get(uid=term[2:])
    else:
        try:
            digest = phone_digest(normalize_phone(term))
        except InvalidPhoneNumber:
            contact = contact_get(user_id=term) if term else None
            if contact is None:
                messages.error(request, "That is not a valid phone number, contact id or WhatsApp user id.")
                return HttpResponseRedirect(_back(request))
        else:
            contact = contact_get(phone_digest=digest)
    if contact is not None and not digest:
        digest = contact.phone_digest or ""
    if target == "complaints" and digest:
        return HttpResponseRedirect(reverse("admin:complaints_complaint_changelist") + "?" + urlencode({"digest": digest}))
    if contact is None:
        messages.error(request, "No customer with this number is known (no consent, message or complaint was recorded for it).")
        return HttpResponseRedirect(_back(request))
    if target == "messages":
        if not digest:
            messages.error(request, "This customer has no number on record (erased, or known only by a WhatsApp user id).")
            return HttpResponseRedirect(_back(request))
        return HttpResponseRedirect(reverse("admin:messaging_message_changelist") + "?" + urlencode({"digest": digest}))
    if target == "evidence":
        return HttpResponseRedirect(reverse("dashboard:evidence_pack", kwargs={"contact_id": contact.public_id}))
    return HttpResponseRedirect(reverse("admin:consent_contact_change", args=[contact.pk]))


admin.site.unregister(Contact)
admin.site.register(Contact, CustomerAdmin)
