"""Run the project's own commands in a subprocess with a controlled environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_SECRETS = {
    "SECRET_KEY": "k3-Zp9vQ2mX7nR4tW8yB1cF6hJ0lN5sD-uA9eG2iK7oM4qT8wY3zC6xV1bH5jL0pS",
    "FIELD_ENCRYPTION_KEYS": "dGVzdC1rZXktb25lLXRlc3Qta2V5LW9uZS10ZXN0LWs=",
    "PII_HASH_KEY": "another-long-random-value-for-the-phone-digest",
    "LEDGER_SIGNING_KEY": "cHJvZHVjdGlvbi1saWtlLWxlZGdlci1rZXktMDEyMzQ=",
}


def clean_env(**overrides: str) -> dict[str, str]:
    """The process environment without any project variable, plus `overrides`.

    ENV_FILE=/dev/null keeps a developer's local .env out of the picture.
    """
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}}
    return {**keep, "ENV_FILE": "/dev/null", "PYTHONPATH": str(ROOT), **overrides}


def run(args: list[str], env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )
