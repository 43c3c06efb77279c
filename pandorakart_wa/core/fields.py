"""Encrypted model fields: personal data at rest under Fernet, with key rotation.

Keys come from settings.FIELD_ENCRYPTION_KEYS, newest first. `cryptography`'s MultiFernet
encrypts with the first key and decrypts with any of them, so a new key can be put in front
and the rows re-encrypted at leisure (`rotate_encrypted_field`, or the management command
`rotate_field_encryption`). Ciphertext is not deterministic: look rows up by a keyed digest
(pandorakart_wa.core.phones.phone_digest) stored beside the encrypted value, never by the value.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.db.models.functions import Cast
from django.db.models.lookups import Exact

ROTATE_BATCH_SIZE = 1000  # rows per UPDATE transaction: short locks, bounded memory


@lru_cache(maxsize=4)
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: encrypted fields need at least one key.")
    try:
        fernets = [Fernet(key.encode()) for key in keys]
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS holds a key that is not a Fernet key: {exc}") from exc
    return MultiFernet(fernets), fernets[0]


def _keys() -> tuple[str, ...]:
    return tuple(settings.FIELD_ENCRYPTION_KEYS)


def encrypt_str(plain: str) -> str:
    """Ciphertext of `plain` under the newest key (a Fernet token, urlsafe base64)."""
    multi, _ = _fernets(_keys())
    return multi.encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt_str(token: str) -> str:
    """Plain text of a token made under any configured key; InvalidToken if none fits."""
    multi, _ = _fernets(_keys())
    return multi.decrypt(token.encode("ascii")).decode("utf-8")


def is_current(token: str) -> bool:
    """True when `token` was made with the newest key (nothing to rotate)."""
    _, newest = _fernets(_keys())
    try:
        newest.decrypt(token.encode("ascii"))
    except InvalidToken:
        return False
    return True


class _EmptyExact(Exact):
    """`field=""` on an encrypted field: the empty value is stored as itself (never encrypted), so
    comparing with it is meaningful (a check constraint "a template or a text"); any other value
    would silently never match its ciphertext, and is refused."""

    def __init__(self, lhs: Any, rhs: Any) -> None:
        if rhs != "":
            raise TypeError("An encrypted field can only be compared with '' (its empty value) or tested for null: "
                            "ciphertext is not deterministic, filter on the digest column instead.")
        super().__init__(lhs, rhs)


# django-stubs' TextField is generic in its set and get types, Django's has no __class_getitem__:
# the parameters exist for the checker only. Any, as the unparameterised base always gave (the
# JSON subclass's values are not str).
if TYPE_CHECKING:
    _TextFieldBase = models.TextField[Any, Any]
else:
    _TextFieldBase = models.TextField


class EncryptedTextField(_TextFieldBase):
    """A text value stored as a Fernet token; Python code only ever sees the plain text.

    Only `isnull` look-ups (and `=""`, the empty value stored as itself) make sense on
    ciphertext; filter on a digest column instead.
    """

    description = "Text encrypted at rest (Fernet, key rotation)"

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_str(str(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        return decrypt_str(value)

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "exact":
            return _EmptyExact
        if lookup_name != "isnull":
            raise TypeError(
                f"EncryptedTextField does not support the '{lookup_name}' look-up: ciphertext is not "
                "deterministic, filter on the digest column instead."
            )
        return super().get_lookup(lookup_name)


class EncryptedJSONField(EncryptedTextField):
    """A JSON value (object, list...) stored as a Fernet token of its JSON text; Python code sees
    the decoded value. None is SQL NULL. Only `isnull` look-ups (as EncryptedTextField)."""

    description = "JSON encrypted at rest (Fernet, key rotation)"
    # django-stubs: the values are JSON (as JSONField's), not str.
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return encrypt_str(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return None
        return json.loads(decrypt_str(value))

    def to_python(self, value: Any) -> Any:
        return value  # already the decoded value (forms and deserialisation hand it over as is)

    def value_to_string(self, obj: models.Model) -> str:
        return json.dumps(self.value_from_object(obj), ensure_ascii=False)


def encrypted_fields(model: type[models.Model]) -> list[str]:
    """The names of `model`'s encrypted fields (rotation and the data map find them here)."""
    return [f.name for f in model._meta.get_fields() if isinstance(f, EncryptedTextField)]


def _reencrypt_allowed(connection: Any) -> None:
    """Append-only tables (the complaint timeline) refuse UPDATE, except that a transaction that
    sets this may rewrite an encrypted column as a new token of the same value (the PostgreSQL
    trigger checks nothing else changed): key rotation and the encryption of old plaintext."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL pandorakart.reencrypt = 'on'")


def encrypt_plaintext_rows(
    model: type[models.Model], field_names: Sequence[str], *, batch_size: int = ROTATE_BATCH_SIZE
) -> int:
    """Encrypt the values of `field_names` still stored as plain text (rows written before the
    column was encrypted: the data migrations call this). A value that is already a token of a
    configured key is left alone, so it can run twice. A JSON column's stored text is valid JSON
    already, so EncryptedJSONField's values are encrypted as they are. Returns how many it encrypted."""
    multi, _ = _fernets(_keys())
    return sum(_rewrite_raw(model, field_names, batch_size,
                            lambda raw: None if _is_token(multi, raw) else multi.encrypt(raw.encode("utf-8")).decode("ascii")))


def decrypt_token_rows(model: type[models.Model], field_names: Sequence[str], *, batch_size: int = ROTATE_BATCH_SIZE) -> int:
    """The reverse of encrypt_plaintext_rows (a data migration taken back): tokens become plain text."""
    multi, _ = _fernets(_keys())
    return sum(_rewrite_raw(model, field_names, batch_size,
                            lambda raw: multi.decrypt(raw.encode("ascii")).decode("utf-8") if _is_token(multi, raw) else None))


def _rewrite_raw(model: type[models.Model], field_names: Sequence[str], batch_size: int,
                 rewrite: Callable[[str], str | None]) -> Iterator[int]:
    """Every stored (raw) value of `field_names`, in pk order and batches of `batch_size`: where
    `rewrite(raw)` gives a new raw value, it is written as is, one transaction per batch that
    may rewrite append-only tables' encrypted columns. Yields the rows rewritten per batch."""
    connection = transaction.get_connection(model._default_manager.db)
    for field_name in field_names:
        after: Any = 0
        while True:
            rows = _raw_tokens(model, field_name, after, batch_size)
            if not rows:
                break
            after = rows[-1][0]
            changed = [(pk, new) for pk, raw in rows if raw and (new := rewrite(raw)) is not None]
            if changed:
                with transaction.atomic(using=model._default_manager.db):
                    _reencrypt_allowed(connection)
                    for pk, new in changed:
                        # .update() would encrypt again: write the new value as a raw one.
                        model._default_manager.filter(pk=pk).update(**{field_name: _RawToken(new)})
            yield len(changed)


def _is_token(multi: MultiFernet, value: str) -> bool:
    try:
        multi.decrypt(value.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError, ValueError):
        return False
    return True


def _raw_tokens(model: type[models.Model], field_name: str, after_pk: Any, limit: int) -> list[tuple[Any, str]]:
    """(pk, ciphertext) pairs, read without decrypting (the Cast hides the field's converter)."""
    rows = (
        model._default_manager.filter(pk__gt=after_pk, **{f"{field_name}__isnull": False})
        .order_by("pk")
        .annotate(_token=Cast(field_name, output_field=models.TextField()))
        .values_list("pk", "_token")[:limit]
    )
    return list(rows)


def rotate_encrypted_field(
    model: type[models.Model], field_names: Sequence[str], *, batch_size: int = ROTATE_BATCH_SIZE
) -> Iterator[int]:
    """Re-encrypt every value of `field_names` not yet under the newest key.

    Yields the number of rows rewritten per batch (so a command can report progress). Old
    keys can be removed from FIELD_ENCRYPTION_KEYS once this has run to the end.
    """
    multi, _ = _fernets(_keys())
    return _rewrite_raw(model, field_names, batch_size,
                        lambda token: None if is_current(token) else multi.rotate(token.encode("ascii")).decode("ascii"))


class _RawToken(models.Value):
    """An already-encrypted token, written as is (bypasses EncryptedTextField.get_prep_value)."""

    def __init__(self, token: str) -> None:
        super().__init__(token, output_field=models.TextField())


def encrypt_bytes(plain: bytes) -> str:
    """Ciphertext of raw bytes (a webhook body as it arrived, whatever its encoding)."""
    multi, _ = _fernets(_keys())
    return multi.encrypt(plain).decode("ascii")


def decrypt_bytes(token: str) -> bytes:
    multi, _ = _fernets(_keys())
    return multi.decrypt(token.encode("ascii"))


def keyed_digest(data: bytes, *, purpose: str) -> str:
    """HMAC-SHA256 under PII_HASH_KEY, separated by `purpose`: dedupe keys and body digests that
    reveal nothing (Meta's ids embed the customer's number; a plain SHA-256 of a short key can
    be brute-forced)."""
    return hmac.digest(_purpose_key(settings.PII_HASH_KEY, purpose), data, "sha256").hex()


@lru_cache(maxsize=16)
def _purpose_key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()
