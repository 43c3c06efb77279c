"""The staff admin site: password + TOTP code, self-service enrolment, audit-screen shortcuts.

`StaffAdminSite` is `django.contrib.admin.site` (see admin_apps.py): a django-otp OTPAdminSite,
so a signed-in staff user who has not been verified by a TOTP device in this session is treated
as not staff. A staff user without any confirmed device signs in with the password only and is
sent to the enrolment page (QR code + first code) before any admin page opens.
"""

from __future__ import annotations

import base64
import io
from base64 import b32encode
from collections.abc import Callable
from functools import wraps
from typing import Any, cast
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib.admin import helpers
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_permission_codename
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.signals import user_login_failed
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice

from pandorakart_wa.backoffice.worklist import worklist
from pandorakart_wa.core.admin.labels import app_name
from pandorakart_wa.core.admin.reader import admin_reader, reading

ENROL_DEVICE_NAME = "Authenticator app"
MODEL_PLURALS = {
    ("auth", "user"): "Staff users",
    ("auth", "group"): "Roles",
    ("axes", "accessattempt"): "Sign-in attempts and lockouts",
    ("axes", "accessfailurelog"): "Failed sign-ins",
    ("axes", "accesslog"): "Sign-ins",
    ("otp_totp", "totpdevice"): "Authenticators",
    ("auditlog", "logentry"): "Audit trail",
}


def has_confirmed_device(user: Any) -> bool:
    return any(True for _ in devices_for_user(user, confirmed=True))


def totp_uri(device: TOTPDevice) -> str:
    """The otpauth:// URI an authenticator app reads (from the QR code or typed in)."""
    return str(device.config_url)


def totp_secret_b32(device: TOTPDevice) -> str:
    return b32encode(device.bin_key).decode()


def qr_svg_data_uri(text: str) -> str:
    """`text` as a QR code, an inline SVG data: URI (no image library, nothing fetched)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg = image.to_string(encoding="unicode")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def qr_ascii(text: str) -> str:
    """`text` as a QR code drawn with block characters, for a terminal."""
    code = qrcode.QRCode(border=1)
    code.add_data(text)
    out = io.StringIO()
    code.print_ascii(out=out)
    return out.getvalue()


# --- Links the reader may follow ----------------------------------------------------------------
# A read-only foreign key on an admin page links to the related object's page whether or not the
# reader may open it: a Support agent or Marketing user met "author", "assignee" and "reviewed by"
# links that answered 403. The admin's read-only field is told who reads the page (the request,
# held for the duration of an admin view) and names an object it cannot link to as plain text.

class PermittedLinksReadonlyField(helpers.AdminReadonlyField):
    def get_admin_url(self, remote_field: Any, remote_obj: Any) -> str:
        request = admin_reader()
        opts = remote_field.model._meta
        if request is not None and not request.user.has_perm(f"{opts.app_label}.{get_permission_codename('view', opts)}"):
            return str(remote_obj)
        return str(super().get_admin_url(remote_field, remote_obj))


helpers.AdminReadonlyField = PermittedLinksReadonlyField  # type: ignore[misc]  # Fieldline builds it by this name


class StaffAuthenticationForm(OTPAdminAuthenticationForm):  # type: ignore[misc]  # django-otp is untyped
    """Username, password and the authenticator code on one form.

    - The user's single confirmed device is used without asking which one (django-otp 1.7
      otherwise asks for a device choice first); with several devices the form offers a choice.
    - A wrong code counts as a failed sign-in for django-axes (username + address), like a wrong
      password, so guessing codes with a known password is locked out too.
    - A staff user with no confirmed device passes on the password alone when self-enrolment is
      on; the site then sends them to the enrolment page and keeps every admin page closed
      until a device is confirmed.
    """

    otp_token = forms.CharField(
        required=False,
        label="Authenticator code",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 8}),
    )

    needs_enrolment = False

    def clean(self) -> dict[str, Any]:
        self.cleaned_data = AdminAuthenticationForm.clean(self)
        user = self.get_user()
        if user is not None and not has_confirmed_device(user):
            if settings.STAFF_OTP_SELF_ENROLMENT:
                self.needs_enrolment = True
                return self.cleaned_data
            self._count_failure(user)
            raise ValidationError(
                "No authenticator is set up for this account. Ask a Compliance officer to set one up.",
                code="no_device",
            )
        self.clean_otp(user)
        return self.cleaned_data

    def _chosen_device(self, user: Any) -> Any:
        device = super()._chosen_device(user)
        if device is None:
            devices = list(devices_for_user(user, confirmed=True, for_verify=True))
            if len(devices) == 1:
                device = devices[0]
        return device

    def _verify_token(self, user: Any, token: str, device: Any = None) -> Any:
        try:
            return super()._verify_token(user, token, device)
        except ValidationError:
            self._count_failure(user)
            raise

    def _count_failure(self, user: AbstractBaseUser) -> None:
        user_login_failed.send(
            sender=type(self), credentials={"username": user.get_username()}, request=self.request
        )


class EnrolForm(forms.Form):
    otp_token = forms.CharField(
        label="Code from the app",
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class StaffAdminSite(OTPAdminSite):  # type: ignore[misc]  # django-otp is untyped
    site_header = "PandoraKart WhatsApp compliance"
    site_title = "PandoraKart compliance"
    index_title = "Back office"
    login_form = StaffAuthenticationForm
    login_template = "admin/staff_login.html"
    # The sidebar repeats the index in 300 px that a 1366 px laptop needs for the tables' own
    # columns (a changelist with its filters left ~700 px); the breadcrumbs lead back to the index.
    enable_nav_sidebar = False
    site_url = None  # no public site here: the storefront is elsewhere ("View site" went to a 404)

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
        self.empty_value_display = "—"  # was "-": a dash that reads like a minus in number columns

    def admin_view(self, view: Callable[..., Any], cacheable: bool = False) -> Callable[..., Any]:
        """Django's admin_view, rendering the page while the request is known to the read-only
        fields (see PermittedLinksReadonlyField)."""
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def with_reader(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            with reading(request):
                response = inner(request, *args, **kwargs)
                if callable(getattr(response, "render", None)) and not getattr(response, "is_rendered", True):
                    response.render()
                return response

        return with_reader

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        is_verified = getattr(user, "is_verified", None)
        return bool(user.is_active and user.is_staff and callable(is_verified) and is_verified())

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """The index with the reader's work first (the officers' queue, revisions to review...)."""

        user: Any = request.user
        context = {**(extra_context or {}), "worklist": worklist(user),
                   "may_find_customer": user.has_perm("consent.view_contact")}
        return cast(HttpResponse, super().index(request, extra_context=context))

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        """The index with names staff read: "Sign-in lockouts and logs", not "AXES"."""
        app_list: list[dict[str, Any]] = super().get_app_list(request, app_label)
        for app in app_list:
            app["name"] = app_name(app["app_label"])
            for model in app["models"]:
                plural = MODEL_PLURALS.get((app["app_label"], model["object_name"].lower()))
                if plural:
                    model["name"] = plural
        return app_list

    # --- sign-in and enrolment ------------------------------------------------------------

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if self._must_enrol(request):
            return self._redirect_to_enrol(request)
        context = {**(extra_context or {}), "self_enrolment": settings.STAFF_OTP_SELF_ENROLMENT}
        response: HttpResponse = super().login(request, extra_context=context)
        if request.method == "POST" and isinstance(response, HttpResponseRedirect) and self._must_enrol(request):
            return self._redirect_to_enrol(request)
        return response

    def _must_enrol(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(
            settings.STAFF_OTP_SELF_ENROLMENT
            and user.is_authenticated
            and user.is_active
            and user.is_staff
            and not has_confirmed_device(user)
        )

    def _redirect_to_enrol(self, request: HttpRequest) -> HttpResponseRedirect:
        url = reverse(f"{self.name}:otp_enrol")
        next_url = request.GET.get("next") or request.POST.get("next")
        if next_url and url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
            url += "?" + urlencode({"next": next_url})
        return HttpResponseRedirect(url)

    def enrol_view(self, request: HttpRequest) -> HttpResponse:
        """Set up an authenticator: scan the QR code (or type the key), confirm with a first code."""
        user = request.user
        if not self._must_enrol(request):
            if self.has_permission(request):
                return redirect(f"{self.name}:index")
            return redirect(f"{self.name}:login")
        device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=ENROL_DEVICE_NAME, confirmed=False)
        form = EnrolForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            with transaction.atomic():
                device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
                if device.verify_token(form.cleaned_data["otp_token"].strip()):
                    device.confirmed = True
                    device.save(update_fields=["confirmed"])
                    otp_login(request, device)
                    next_url = request.GET.get("next", "")
                    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
                        next_url = reverse(f"{self.name}:index")
                    return HttpResponseRedirect(next_url)
            form.add_error("otp_token", "That code is not valid. Check the phone's clock and try the current code.")
        uri = totp_uri(device)
        context = {
            **self.each_context(request),
            "title": "Set up two-factor sign-in",
            "form": form,
            "otpauth_uri": uri,
            "qr_data_uri": qr_svg_data_uri(uri),
            "secret_b32": totp_secret_b32(device),
        }
        return TemplateResponse(request, "admin/otp_enrol.html", context)

    # --- the audit screen -----------------------------------------------------------------

    def audit_view(self, request: HttpRequest) -> HttpResponse:
        """/admin/audit/: the global audit screen (the read-only LogEntry changelist)."""
        url = reverse(f"{self.name}:auditlog_logentry_changelist")
        query = request.GET.urlencode()
        return HttpResponseRedirect(f"{url}?{query}" if query else url)

    def audit_object_view(self, request: HttpRequest, app_label: str, model_name: str, object_pk: str) -> HttpResponse:
        """The audit screen filtered to one object: the "Audit trail" link of every object page."""
        try:
            content_type = ContentType.objects.get_by_natural_key(app_label, model_name)
        except ContentType.DoesNotExist as exc:
            raise Http404("No such model.") from exc
        url = reverse(f"{self.name}:auditlog_logentry_changelist")
        return HttpResponseRedirect(f"{url}?{urlencode({'resource_type': content_type.pk, 'object_pk': object_pk})}")

    def get_urls(self) -> list[URLPattern | URLResolver]:
        extra: list[URLPattern | URLResolver] = [
            path("enrol/", never_cache(csrf_protect(self.enrol_view)), name="otp_enrol"),
            path("audit/", self.admin_view(self.audit_view), name="audit"),
            path(
                "audit/object/<str:app_label>/<str:model_name>/<path:object_pk>/",
                self.admin_view(self.audit_object_view),
                name="audit_object",
            ),
        ]
        return extra + cast("list[URLPattern | URLResolver]", super().get_urls())

