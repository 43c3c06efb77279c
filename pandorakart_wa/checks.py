"""System checks: an integration missing its settings is reported at start-up, not at send time."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.utils.module_loading import import_string


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
