"""Names staff read for third-party apps and models (the admin index, the audit screen).

Django names an app by its label when it has no verbose name of its own ("AXES", "OTP_TOTP"),
and a content type by "app_label | model" ("auth | user"); staff should read what the thing is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.utils.text import capfirst

if TYPE_CHECKING:
    from django.contrib.contenttypes.models import ContentType

APP_NAMES = {
    "auth": "Staff accounts and roles",
    "axes": "Sign-in lockouts and logs",
    "otp_totp": "Two-factor authenticators",
    "auditlog": "Audit trail",
    "core": "Service: API keys and Meta's webhooks",
}
MODEL_NAMES = {
    ("auth", "user"): "Staff user",
    ("auth", "group"): "Role",
    ("axes", "accessattempt"): "Sign-in attempt (lockout)",
    ("otp_totp", "totpdevice"): "Authenticator",
    ("auditlog", "logentry"): "Audit entry",
}


def app_name(app_label: str) -> str:
    if app_label in APP_NAMES:
        return APP_NAMES[app_label]
    try:
        return str(apps.get_app_config(app_label).verbose_name)
    except LookupError:
        return app_label


def model_name(content_type: ContentType | Any) -> str:
    """'Complaint', 'Staff user', 'Contact': the model a content type stands for."""
    key = (content_type.app_label, content_type.model)
    if key in MODEL_NAMES:
        return MODEL_NAMES[key]
    model = content_type.model_class()
    if model is None:
        return f"{content_type.app_label}.{content_type.model} (removed)"
    return str(capfirst(model._meta.verbose_name))


def model_label(content_type: ContentType | Any) -> str:
    """'Complaint (Complaints)': the model and the part of the back office it lives in."""
    return f"{model_name(content_type)} ({app_name(content_type.app_label)})"
