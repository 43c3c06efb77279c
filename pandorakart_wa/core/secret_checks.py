"""What a well-formed secret looks like, checked once at start-up and again by `check --deploy`.

Pure functions over the raw values (no settings import), so settings.py can stop a process
whose secrets are wrong before it serves anything (API.md, Configuration), and the system check
`secrets` reports the same problems with an id each. A message names the variable and what is
wrong, never the value.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SECRET_KEY_MIN_LENGTH = 50  # Django's own deploy check (security.W009) asks for 50 characters
SECRET_KEY_MIN_UNIQUE = 5
INSECURE_PREFIX = "django-insecure-"
PII_HASH_KEY_MIN_LENGTH = 32  # an HMAC key of at least 256 bits of text
FERNET_KEY_BYTES = 32
META_APP_SECRET = re.compile(r"^[0-9a-f]{32}$")  # Meta's app secrets are 32 lowercase hex digits
VERIFY_TOKEN_MIN_LENGTH = 16
METRICS_TOKEN_MIN_LENGTH = 24


@dataclass(frozen=True)
class SecretProblem:
    variable: str
    message: str
    check_id: str
    # A warning is reported by `check --deploy` but does not stop start-up: PII_HASH_KEY cannot be
    # changed once digests exist (every look-up would miss), so a weak one must not take a running
    # service down; it is a finding for the next deployment's key.
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.variable}: {self.message}"


def fernet_key_problem(key: str) -> str | None:
    """Why `key` is not a Fernet key (url-safe base64 of 32 bytes), or None."""
    try:
        raw = base64.b64decode(key.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return "is not url-safe base64"
    if len(raw) != FERNET_KEY_BYTES or base64.urlsafe_b64encode(raw).decode() != key:
        return f"does not decode to exactly {FERNET_KEY_BYTES} bytes"
    return None


def core_secret_problems(
    *, secret_key: str, field_encryption_keys: Sequence[str], pii_hash_key: str
) -> list[SecretProblem]:
    """The secrets every process needs: Django's, the field encryption keys, the digest key."""
    problems: list[SecretProblem] = []
    if (
        len(secret_key) < SECRET_KEY_MIN_LENGTH
        or len(set(secret_key)) < SECRET_KEY_MIN_UNIQUE
        or secret_key.startswith(INSECURE_PREFIX)
    ):
        problems.append(SecretProblem(
            "SECRET_KEY",
            f"must be a random value of at least {SECRET_KEY_MIN_LENGTH} characters (not Django's "
            f"'{INSECURE_PREFIX}' placeholder)",
            "secrets.E001",
        ))
    if not field_encryption_keys:
        problems.append(SecretProblem("FIELD_ENCRYPTION_KEYS", "holds no key", "secrets.E002"))
    for position, key in enumerate(field_encryption_keys, start=1):
        why = fernet_key_problem(key)
        if why is not None:
            problems.append(SecretProblem(
                "FIELD_ENCRYPTION_KEYS",
                f"key {position} of {len(field_encryption_keys)} {why}: it is not a Fernet key "
                "(make one with `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)",
                "secrets.E002",
            ))
    if not pii_hash_key:
        problems.append(SecretProblem("PII_HASH_KEY", "is empty", "secrets.E003"))
    elif len(pii_hash_key) < PII_HASH_KEY_MIN_LENGTH:
        problems.append(SecretProblem(
            "PII_HASH_KEY", f"should be a random value of at least {PII_HASH_KEY_MIN_LENGTH} characters (it cannot "
            "be changed once phone digests exist: use a longer one for a new deployment)", "secrets.W003", warning=True,
        ))
    elif pii_hash_key == secret_key or pii_hash_key in field_encryption_keys:
        problems.append(SecretProblem(
            "PII_HASH_KEY", "should be a key of its own, not SECRET_KEY or an encryption key (it cannot be changed "
            "once phone digests exist: use another for a new deployment)", "secrets.W003", warning=True,
        ))
    return problems


def whatsapp_secret_problems(*, backend: str, app_secret: str, verify_token: str) -> list[SecretProblem]:
    """The webhook secrets, when the service talks to the real Meta (the `cloud` backend)."""
    if backend != "cloud":
        return []
    problems: list[SecretProblem] = []
    if not app_secret:
        problems.append(SecretProblem(
            "WHATSAPP_APP_SECRET", "is required by the cloud backend (webhook signatures)", "secrets.E004"
        ))
    elif not META_APP_SECRET.match(app_secret):
        problems.append(SecretProblem(
            "WHATSAPP_APP_SECRET",
            "is not a Meta app secret (32 lowercase hexadecimal characters: App settings > Basic)",
            "secrets.E004",
        ))
    if not verify_token:
        problems.append(SecretProblem(
            "WHATSAPP_VERIFY_TOKEN", "is required by the cloud backend (webhook subscription)", "secrets.E005"
        ))
    elif len(verify_token) < VERIFY_TOKEN_MIN_LENGTH or any(c.isspace() for c in verify_token):
        problems.append(SecretProblem(
            "WHATSAPP_VERIFY_TOKEN",
            f"must be at least {VERIFY_TOKEN_MIN_LENGTH} characters without spaces (anyone who guesses it "
            "can answer Meta's subscription check)",
            "secrets.E005",
        ))
    return problems


def metrics_token_problem(token: str) -> SecretProblem | None:
    """METRICS_TOKEN is optional (unset: no /metrics); when set, it must be hard to guess."""
    if token and (len(token) < METRICS_TOKEN_MIN_LENGTH or any(c.isspace() for c in token)):
        return SecretProblem(
            "METRICS_TOKEN", f"must be at least {METRICS_TOKEN_MIN_LENGTH} characters without spaces", "secrets.E006"
        )
    return None


def secret_problems(values: Mapping[str, object]) -> list[SecretProblem]:
    """Every problem with the secrets in `values` (settings names -> values)."""
    keys = values.get("FIELD_ENCRYPTION_KEYS") or []
    return [
        *core_secret_problems(
            secret_key=str(values.get("SECRET_KEY") or ""),
            field_encryption_keys=[str(k) for k in keys] if isinstance(keys, list | tuple) else [str(keys)],
            pii_hash_key=str(values.get("PII_HASH_KEY") or ""),
        ),
        *whatsapp_secret_problems(
            backend=str(values.get("WHATSAPP_BACKEND_NAME") or ""),
            app_secret=str(values.get("WHATSAPP_APP_SECRET") or ""),
            verify_token=str(values.get("WHATSAPP_VERIFY_TOKEN") or ""),
        ),
        *filter(None, [metrics_token_problem(str(values.get("METRICS_TOKEN") or ""))]),
    ]
