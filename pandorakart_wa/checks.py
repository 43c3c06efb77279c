"""System checks: an integration missing its settings is reported at start-up, not at send time."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.utils import timezone
from django.utils.module_loading import import_string

from pandorakart_wa.core.secret_checks import secret_problems
from pandorakart_wa.retention import AUDIT_FLOOR_DAYS, retention_policy, retention_problems
from pandorakart_wa.whatsapp.versions import SOURCE_URL, Lifecycle, newest_version, version_status


@register("whatsapp")
def whatsapp_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    try:
        import_string(settings.WHATSAPP_BACKEND)
    except ImportError as exc:
        problems.append(
            Error(
                f"WHATSAPP_BACKEND names {settings.WHATSAPP_BACKEND!r}, which cannot be imported: {exc}",
                hint="Use cloud, sandbox, locmem or a dotted path to a backend class.",
                id="whatsapp.E001",
            )
        )
        return problems
    if settings.WHATSAPP_BACKEND_NAME == "cloud":
        for name, eid in (
            ("WHATSAPP_ACCESS_TOKEN", "whatsapp.E002"),
            ("WHATSAPP_PHONE_NUMBER_ID", "whatsapp.E003"),
            ("WHATSAPP_WABA_ID", "whatsapp.E004"),
            ("WHATSAPP_APP_SECRET", "whatsapp.E005"),
            ("WHATSAPP_VERIFY_TOKEN", "whatsapp.E006"),
        ):
            if not getattr(settings, name):
                problems.append(
                    Error(
                        f"The cloud WhatsApp backend needs {name}.",
                        hint=f"Set {name} in the environment (see .env.example).",
                        id=eid,
                    )
                )
        if not settings.WHATSAPP_GRAPH_URL.startswith("https://") and not settings.DEBUG:
            problems.append(
                Warning(
                    "WHATSAPP_GRAPH_URL is not https: access tokens would travel in clear text.",
                    id="whatsapp.W001",
                )
            )
    if settings.WHATSAPP_MAX_MPS < 1:
        problems.append(Error("WHATSAPP_MAX_MPS must be at least 1.", id="whatsapp.E007"))
    return problems


@register("celery")
def celery_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    if not settings.DEBUG and settings.CELERY_BROKER_URL.startswith("filesystem://") and settings.HTTPS_ONLY:
        return [
            Warning(
                "CELERY_BROKER_URL is the embedded filesystem broker, which suits one machine only.",
                hint="Set CELERY_BROKER_URL=redis://... in production.",
                id="celery.W001",
            )
        ]
    return []


@register("secrets")
def secrets_check(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    """The same rules settings.py applies at start-up with DEBUG off (so `check` shows them
    with DEBUG on too, and `check --deploy` fails on them)."""
    values = {name: getattr(settings, name, "") for name in (
        "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "PII_HASH_KEY", "WHATSAPP_BACKEND_NAME", "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN", "METRICS_TOKEN",
    )}
    return [
        (Warning if p.warning else Error)(
            f"{p.variable} {p.message}.", hint=f"Set {p.variable} in the environment (see .env.example).", id=p.check_id
        )
        for p in secret_problems(values)
        if getattr(settings, p.variable, "")  # a missing webhook secret is whatsapp.E005/E006's
        or p.variable not in ("WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN")
    ]


@register("whatsapp")
def graph_api_version_check(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    """WHATSAPP_API_VERSION against Meta's published lifecycle (pandorakart_wa/whatsapp/versions.py):
    an error once Meta has retired it, a warning within RETIREMENT_WARNING_DAYS."""
    status = version_status(settings.WHATSAPP_API_VERSION, today=timezone.now().date())
    hint = (f"Move WHATSAPP_API_VERSION to a current version (newest: {newest_version().name}) after reading "
            f"Meta's changelog ({SOURCE_URL}).")
    if status.lifecycle in (Lifecycle.RETIRED, Lifecycle.MALFORMED):
        return [Error(f"WHATSAPP_API_VERSION: {status.summary}.", hint=hint, id="whatsapp.E008")]
    if status.lifecycle is Lifecycle.RETIRING_SOON:
        return [Warning(f"WHATSAPP_API_VERSION: {status.summary}.", hint=hint, id="whatsapp.W002")]
    if status.lifecycle is Lifecycle.UNKNOWN:
        return [Warning(
            f"WHATSAPP_API_VERSION: {status.summary}.",
            hint="Add it to pandorakart_wa/whatsapp/versions.py with Meta's dates, or use a listed version.",
            id="whatsapp.W003",
        )]
    return []


@register("retention")
def retention_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Audit and access logs are never pruned before AUDIT_FLOOR_DAYS (DPDP Rules 2025, rule 6):
    a lower RETENTION_AUDIT_DAYS is an error here, and apply_retention refuses to run with it."""

    return [
        Error(f"{text}.", id=check_id, hint=(
            f"Set RETENTION_AUDIT_DAYS to {AUDIT_FLOOR_DAYS} or more (see .env.example)." if check_id == "retention.E001"
            else "Set a positive number of days (see .env.example)."))
        for check_id, text in retention_problems(retention_policy())
    ]
