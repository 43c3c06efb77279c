#!/usr/bin/env python3
"""Write `.env` for the run command on its first start: locally generated secrets and the
zero-setup defaults (SQLite, embedded broker, sandbox backend, plain http on localhost).

An existing `.env` is left alone except that missing secrets are appended, so a developer's
own settings survive. Uses only the standard library and `cryptography` (a Fernet key).
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

# The file settings.py reads: ENV_FILE when set (as settings.py honours it), else .env beside manage.py.
ENV_FILE = Path(os.environ.get("ENV_FILE") or Path(__file__).resolve().parent.parent / ".env")


def main() -> int:
    existing = ENV_FILE.read_text() if ENV_FILE.exists() else ""
    present = {line.split("=", 1)[0].strip() for line in existing.splitlines() if "=" in line and not line.startswith("#")}
    wanted = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PII_HASH_KEY": secrets.token_urlsafe(32),
        # The consent ledger's Ed25519 checkpoint key: the base64 of a 32-byte seed.
        "LEDGER_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "HTTPS_ONLY": "off",
        # Preference-centre links in WhatsApp replies point at the local server.
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{os.environ.get('PORT') or 8000}",
        "WHATSAPP_APP_SECRET": secrets.token_hex(16),
        "WHATSAPP_VERIFY_TOKEN": secrets.token_urlsafe(16),
        # GET /metrics answers `Authorization: Bearer <METRICS_TOKEN>` only.
        "METRICS_TOKEN": secrets.token_urlsafe(32),
        # The demo's staff login and storefront key, printed by seed_demo on every start.
        "DEMO_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        # The demo admin's TOTP key (hex): seed_demo prints its otpauth URI and the current code.
        "DEMO_ADMIN_TOTP_KEY": secrets.token_hex(20),
        "DEMO_API_KEY": f"{secrets.token_urlsafe(6)[:8]}.{secrets.token_urlsafe(24)}".replace("-", "x").replace("_", "y"),
    }
    missing = {k: v for k, v in wanted.items() if k not in present}
    if not missing:
        return 0
    with ENV_FILE.open("a") as fh:
        if not existing:
            fh.write("# Written by `make run` on its first start: local secrets, never commit this file.\n")
        for key, value in missing.items():
            fh.write(f"{key}={value}\n")
    ENV_FILE.chmod(0o600)
    print(f"Wrote {', '.join(missing)} to {ENV_FILE.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
