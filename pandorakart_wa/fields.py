"""Kept for the landed migrations that import `pandorakart_wa.fields` (migrations are never edited):
the code lives in pandorakart_wa/core/fields.py."""

from pandorakart_wa.core.fields import EncryptedJSONField, EncryptedTextField, encrypt_bytes, keyed_digest

__all__ = ["EncryptedJSONField", "EncryptedTextField", "encrypt_bytes", "keyed_digest"]
