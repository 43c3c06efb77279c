"""Admin pages: the compliance dashboard, the reports (CSV exports) and the evidence pack.

Every view is wrapped in the admin site's `admin_view` (signed in, staff, two-factor verified:
see urls.py) and checks its own permission (pandorakart_wa/backoffice/models.py); without it the
answer is 403. Every export and every evidence pack is written to the audit trail
(pandorakart_wa.core.audit.log_access) before any data leaves.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consent.models import ConsentEvent, ConsentState, Contact, LedgerVerification
from consent.purposes import Purpose
from consent.selectors import contact_for_phone, contact_get
from consent.tasks import consent_ledger_verify_task
from messaging.selectors import sending_policy_get
from pandorakart_wa.backoffice import charts, complaints_panel, reports
from pandorakart_wa.backoffice import models as perms
from pandorakart_wa.backoffice.evidence import evidence_pack
from pandorakart_wa.backoffice.forms import DateRangeForm, PhoneLookupForm
from pandorakart_wa.backoffice.selectors import (
    api_version_status,
    consent_activity,
    consent_coverage,
    default_range,
    ledger_status,
    message_figures,
    month_cost,
    open_alerts,
    opt_out_honour_times,
    template_board,
)
from pandorakart_wa.core.audit import log_access, log_event
from profile.selectors import profile_status

REPORT_PERMISSIONS = (perms.EXPORT_LEDGER, perms.EXPORT_SUPPRESSION, perms.EXPORT_COMPLAINTS, perms.VIEW_EVIDENCE_PACK)
GREEN, RED, AMBER, BLUE, GREY = "#2e7d32", "#c62828", "#d98c00", "#3f6fb5", "#8a8f98"
STATUS_COLOURS = {
    "queued": GREY, "sending": BLUE, "sent": BLUE, "delivered": GREEN, "read": GREEN,
    "failed": RED, "suppressed": AMBER, "cancelled": GREY,
}

PURPOSE_LABELS = {str(p): str(p.label).split(" (")[0] for p in Purpose}

View = Callable[..., HttpResponseBase]


def permission_required(*codenames: str, any_of: bool = False) -> Callable[[View], View]:
    """403 unless the user holds the permission(s) (all of them, or any with any_of=True)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            held = [user.has_perm(c) for c in codenames]
            if not (any(held) if any_of else all(held)):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def _context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    return {**admin.site.each_context(request), "title": title, **extra}


def _day_label(day: Any) -> str:
    return f"{day.day} {day:%b}"


# --- The dashboard -----------------------------------------------------------------------


@require_GET
@permission_required(perms.VIEW_DASHBOARD)
def dashboard(request: HttpRequest) -> HttpResponseBase:
    form = DateRangeForm(request.GET or None)
    if request.GET and not form.is_valid():
        context = _context(request, "Compliance dashboard", form=form)
        return TemplateResponse(request, "dashboard/index.html", context, status=400)
    if not request.GET:
        default = default_range()
        form = DateRangeForm({"date_from": default.start.isoformat(), "date_to": default.end.isoformat()})
        form.is_valid()
    date_range = form.date_range
    total, coverage, contact_flags = consent_coverage()
    activity = consent_activity(date_range)
    messages = message_figures(date_range)
    templates, quality = template_board(messages.sent_by_template)
    complaints = complaints_panel.complaints_figures(date_range)
    day_titles = [f"{d:%a %d %b %Y}" for d in activity.days]
    context = _context(
        request,
        "Compliance dashboard",
        form=form,
        range=date_range,
        contacts_total=total,
        contact_flags=contact_flags,
        coverage=coverage,
        coverage_chart=charts.bar_chart(
            title="Contacts opted in, per purpose (% of all contacts)",
            rows=[(c.label.split(" (")[0], round(c.percent, 1)) for c in coverage],
            colour=GREEN,
            maximum=100,
            suffix=" %",
        ),
        activity=activity,
        activity_chart=charts.column_chart(
            title=f"Opt-ins and opt-outs per day, {date_range.start:%d %b %Y} to {date_range.end:%d %b %Y}",
            labels=[_day_label(d) for d in activity.days],
            point_titles=day_titles,
            series=[
                charts.Series("Opt-ins", activity.opt_ins, GREEN),
                charts.Series("Opt-outs", activity.opt_outs, RED),
            ],
            y_label="Consent events",
        ),
        activity_by_purpose=[(PURPOSE_LABELS.get(p, p), n) for p, n in activity.by_purpose.items()],
        activity_rows=list(zip(activity.days, activity.opt_ins, activity.opt_outs, activity.erasures, strict=True)),
        honour=opt_out_honour_times(date_range),
        msg=messages,
        messages_chart=charts.bar_chart(
            title="Messages created in the range, by status",
            rows=[(label, n) for _, label, n in messages.by_status],
            colour=BLUE,
        ),
        templates=templates,
        quality=quality,
        complaints=complaints,
        profile=profile_status(),
        ledger=ledger_status(),
        sending=sending_policy_get(),
        alerts=open_alerts(),
        cost=month_cost(),
        api_version=api_version_status(),
        may_edit_rates=request.user.has_perm("messaging.change_messagerate"),
        may_view_rates=request.user.has_perm("messaging.view_messagerate"),
        may_export_ledger=request.user.has_perm(perms.EXPORT_LEDGER),
        profile_interval=settings.PROFILE_SYNC_INTERVAL_MINUTES,
        query=request.GET.urlencode(),
    )
    return TemplateResponse(request, "dashboard/index.html", context)


@require_POST
@permission_required(perms.VERIFY_LEDGER)
def verify_ledger_now(request: HttpRequest) -> HttpResponseBase:
    """Run the ledger verification now (the nightly beat job, on demand): a fresh install need
    not wait for the night to show an intact ledger. Asked for by whom is in the audit trail."""
    from auditlog.models import LogEntry


    log_event(user=request.user, obj_or_label=LedgerVerification, action=LogEntry.Action.CREATE,  # type: ignore[arg-type]
              what="asked for a consent ledger verification now")
    try:
        consent_ledger_verify_task.delay()
    except Exception as exc:  # the broker is down: say so, the nightly run still comes
        messages.error(request, f"The verification could not be started ({type(exc).__name__}); the nightly run still will.")
    else:
        messages.success(request, "Ledger verification started: the tile shows its result once it has run "
                                  "(seconds for a small ledger; reload the page).")
    return redirect("dashboard:index")


# --- Reports ------------------------------------------------------------------------------


@require_GET
@permission_required(*REPORT_PERMISSIONS, any_of=True)
def reports_index(request: HttpRequest) -> HttpResponseBase:
    default = default_range()
    form = DateRangeForm({"date_from": default.start.isoformat(), "date_to": default.end.isoformat()})
    form.is_valid()
    return TemplateResponse(
        request, "dashboard/reports.html", _context(request, "Compliance reports", form=form,
                                                    complaints_available=complaints_panel.AVAILABLE)
    )


def _csv_response(chunks: Any, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@permission_required(perms.EXPORT_LEDGER)
def export_ledger(request: HttpRequest) -> HttpResponseBase:
    form = DateRangeForm(request.GET)
    if not form.is_valid():
        context = _context(request, "Compliance reports", form=form, form_errors_for="ledger",
                           complaints_available=complaints_panel.AVAILABLE)
        return TemplateResponse(request, "dashboard/reports.html", context, status=400)
    date_range = form.date_range
    log_access(user=request.user, obj_or_label=ConsentEvent,  # type: ignore[arg-type]
               what=f"exported consent ledger CSV {date_range}",
               details={"date_from": date_range.start.isoformat(), "date_to": date_range.end.isoformat()})
    return _csv_response(reports.ledger_csv(date_range), reports.export_filename("consent-ledger", date_range))


@require_GET
@permission_required(perms.EXPORT_SUPPRESSION)
def export_suppression(request: HttpRequest) -> HttpResponseBase:
    log_access(user=request.user, obj_or_label=ConsentState,  # type: ignore[arg-type]
               what="exported suppression list CSV (digests only)")
    return _csv_response(reports.suppression_csv(), reports.export_filename("suppression-list"))


@require_GET
@permission_required(perms.EXPORT_COMPLAINTS)
def export_complaints(request: HttpRequest) -> HttpResponseBase:
    if not complaints_panel.AVAILABLE:
        raise Http404("The complaints register is not available yet.")
    form = DateRangeForm(request.GET)
    if not form.is_valid():
        context = _context(request, "Compliance reports", form=form, form_errors_for="complaints",
                           complaints_available=complaints_panel.AVAILABLE)
        return TemplateResponse(request, "dashboard/reports.html", context, status=400)
    date_range = form.date_range
    log_access(user=request.user, obj_or_label=complaints_panel.register_label(),  # type: ignore[arg-type]
               what=f"exported complaints register CSV {date_range}",
               details={"date_from": date_range.start.isoformat(), "date_to": date_range.end.isoformat()})
    return _csv_response(complaints_panel.register_csv(date_range),
                         reports.export_filename("complaints-register", date_range))


# --- The customer evidence pack -------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@permission_required(perms.VIEW_EVIDENCE_PACK)
def evidence_lookup(request: HttpRequest) -> HttpResponseBase:
    """Staff type the customer's number (POSTed: it never lands in a URL or an access log)."""
    form = PhoneLookupForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            contact = contact_for_phone(form.cleaned_data["phone"])
            if contact is not None:
                return redirect("dashboard:evidence_pack", contact_id=contact.public_id)
            form.add_error("phone", "No customer with this number is known (no consent was ever recorded for it).")
            status = 404
        else:
            status = 400
    return TemplateResponse(request, "dashboard/evidence_lookup.html",
                            _context(request, "Customer evidence pack", form=form), status=status)


def _contact(contact_id: str) -> Contact:
    try:
        uid = uuid.UUID(hex=contact_id.removeprefix("c_"))
    except ValueError:
        raise Http404("No such contact.") from None
    contact = contact_get(uid=uid)
    if contact is None:
        raise Http404("No such contact.")
    return contact


@require_GET
@permission_required(perms.VIEW_EVIDENCE_PACK)
def evidence_pack_page(request: HttpRequest, contact_id: str) -> HttpResponseBase:
    """The printable pack. The number is masked on the page for everyone (the page title lands in
    browser history and tab lists); whoever holds consent.reveal_phone reveals it with the same
    audited POST as on the customer page."""
    contact = _contact(contact_id)
    may_reveal = request.user.has_perm(perms.REVEAL_PHONE)
    log_access(user=request.user, obj_or_label=contact, what="viewed customer evidence pack",  # type: ignore[arg-type]
               details={"full_number_shown": False})
    pack = evidence_pack(contact, full_phone=False)
    context = _context(
        request,
        f"Evidence pack: {contact.public_id}",
        pack=pack,
        contact=contact,
        json_url=reverse("dashboard:evidence_pack_json", kwargs={"contact_id": contact.public_id}),
        reveal_url=reverse("admin:consent_contact_reveal", args=[contact.pk]) if may_reveal and contact.phone else "",
        customer_url=reverse("admin:consent_contact_change", args=[contact.pk])
        if request.user.has_perm("consent.view_contact") else "",
    )
    return TemplateResponse(request, "dashboard/evidence_pack.html", context)


@require_GET
@permission_required(perms.VIEW_EVIDENCE_PACK)
def evidence_pack_json(request: HttpRequest, contact_id: str) -> HttpResponseBase:
    contact = _contact(contact_id)
    full = request.user.has_perm(perms.REVEAL_PHONE)
    log_access(user=request.user, obj_or_label=contact, what="exported customer evidence pack JSON",  # type: ignore[arg-type]
               details={"full_number_shown": bool(full and contact.phone)})
    pack = evidence_pack(contact, full_phone=full)
    response = JsonResponse(pack, encoder=DjangoJSONEncoder, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="evidence-pack-{contact.public_id}.json"'
    response["Cache-Control"] = "no-store"
    return response
