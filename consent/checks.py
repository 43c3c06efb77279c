"""System checks of the consent ledger's settings (registered by ConsentConfig.ready).

Settings already refuse to start without a well-formed LEDGER_SIGNING_KEY when DEBUG is off;
these add what only a deploy check can see (the DEBUG development key, an origin left to its
default) and what would otherwise fail in the sequencer (an origin that is no note key name, a
checkpoint directory that cannot be written, a malformed earlier verifier key).
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from consent.note import NoteError, Verifier, check_key_name, signing_key_from_seed


@register("ledger")
def ledger_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    try:
        signing_key_from_seed(settings.LEDGER_SIGNING_KEY)
    except NoteError as exc:
        problems.append(Error(f"LEDGER_SIGNING_KEY is not a base64 Ed25519 seed: {exc}", id="ledger.E001"))
    try:
        check_key_name(settings.LEDGER_LOG_ORIGIN)
    except NoteError as exc:
        problems.append(Error(f"LEDGER_LOG_ORIGIN cannot name the log: {exc}", id="ledger.E002"))
    if settings.LEDGER_CHECKPOINT_SECONDS < 1:
        problems.append(Error("LEDGER_CHECKPOINT_SECONDS must be at least 1.", id="ledger.E003"))
    for vkey in settings.LEDGER_VERIFIER_KEYS:
        try:
            Verifier.parse(vkey)
        except NoteError as exc:
            problems.append(Error(f"LEDGER_VERIFIER_KEYS holds a malformed key {vkey[:40]!r}: {exc}", id="ledger.E004"))
    return problems


@register("ledger", Tags.security, deploy=True)
def ledger_deploy_check(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    if settings.LEDGER_SIGNING_KEY.strip() == settings.DEBUG_LEDGER_SIGNING_KEY:
        problems.append(
            Error(
                "LEDGER_SIGNING_KEY is the DEBUG development key: anyone could sign the ledger's checkpoints.",
                hint="Set LEDGER_SIGNING_KEY to a new secret seed (scripts/init_local_env.py shows how).",
                id="ledger.E005",
            )
        )
    directory = str(settings.LEDGER_CHECKPOINT_DIR)
    try:
        os.makedirs(directory, exist_ok=True)
        writable = os.access(directory, os.W_OK | os.X_OK)
    except OSError:
        writable = False
    if not writable:
        problems.append(
            Error(f"LEDGER_CHECKPOINT_DIR {directory} cannot be written: checkpoints would exist in the database only.",
                  id="ledger.E006")
        )
    if settings.LEDGER_LOG_ORIGIN_DEFAULTED:
        problems.append(
            Warning(
                f"LEDGER_LOG_ORIGIN is not set; the log is named {settings.LEDGER_LOG_ORIGIN!r} after ALLOWED_HOSTS.",
                hint="Set it once, for good: it names the log in every checkpoint and in the auditors' key.",
                id="ledger.W001",
            )
        )
    return problems


@register("consent")
def preference_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    """The preference centre's links: an absolute http(s) base the customer can open, and a
    lifetime of at least a day."""
    from urllib.parse import urlsplit

    problems: list[Error | Warning] = []
    base = urlsplit(settings.PUBLIC_BASE_URL)
    if base.scheme not in ("http", "https") or not base.netloc or base.path not in ("", "/"):
        problems.append(Error(
            f"PUBLIC_BASE_URL must be an absolute http(s) address without a path, e.g. https://wa.pandorakart.com "
            f"(it is {settings.PUBLIC_BASE_URL!r}).", id="consent.E001"))
    if settings.PREFERENCE_LINK_DAYS < 1:
        problems.append(Error("PREFERENCE_LINK_DAYS must be at least 1.", id="consent.E002"))
    return problems


@register("consent", Tags.security, deploy=True)
def preference_deploy_check(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    if settings.PUBLIC_BASE_URL.startswith("http://") and settings.HTTPS_ONLY:
        return [Warning("PUBLIC_BASE_URL is plain http: customers' preference links would travel unencrypted.",
                        id="consent.W001")]
    return []
