"""Kept for the landed migrations that import `pandorakart_wa.db` (migrations are never edited):
the code lives in pandorakart_wa/core/db.py."""

from pandorakart_wa.core.db import append_only_but_reencrypt_trigger, append_only_trigger, encrypt_columns

__all__ = ["append_only_but_reencrypt_trigger", "append_only_trigger", "encrypt_columns"]
