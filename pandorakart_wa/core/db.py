"""Database helpers shared by the apps' migrations."""

from __future__ import annotations

from typing import Any

from django.db import migrations

from pandorakart_wa.core.fields import decrypt_token_rows, encrypt_plaintext_rows


def append_only_trigger(*, table: str, name: str) -> migrations.RunPython:
    """A migration operation: on PostgreSQL, a trigger named `name` that rejects UPDATE and
    DELETE on `table` whatever the code path (raw SQL, a shell, another service). SQLite (the
    run command) relies on the code alone."""
    create = f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS {name} ON {table};
CREATE TRIGGER {name}
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {name}();
"""
    drop = f"""
DROP TRIGGER IF EXISTS {name} ON {table};
DROP FUNCTION IF EXISTS {name}();
"""

    def forwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(create, params=None)

    def backwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(drop, params=None)

    return migrations.RunPython(forwards, backwards)


def append_only_but_reencrypt_trigger(*, table: str, name: str, columns: tuple[str, ...]) -> migrations.RunPython:
    """Replace `name` (an append_only_trigger) with one that still rejects every UPDATE and
    DELETE, except an UPDATE inside a transaction that set `pandorakart.reencrypt` (key rotation
    and the encryption of old plaintext: pandorakart_wa.core.fields) and that changes nothing but
    `columns` (their ciphertext). Backwards: the strict trigger again."""
    unchanged = "(to_jsonb(NEW) - ARRAY[{cols}]::text[]) = (to_jsonb(OLD) - ARRAY[{cols}]::text[])".format(
        cols=", ".join(f"'{c}'" for c in columns)
    )
    lenient = f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('pandorakart.reencrypt', true) = 'on' AND {unchanged} THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""
    strict = f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

    def forwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(lenient, params=None)

    def backwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(strict, params=None)

    return migrations.RunPython(forwards, backwards)


def encrypt_columns(app_label: str, model_name: str, *fields: str) -> migrations.RunPython:
    """A data migration: encrypt the plain values rows still hold in `fields`, which the
    migration's AlterField just made encrypted fields (pandorakart_wa.core.fields). Backwards: the
    plain text again, so the column can return to its earlier type."""

    def forwards(apps: Any, schema_editor: Any) -> None:
        encrypt_plaintext_rows(apps.get_model(app_label, model_name), fields)

    def backwards(apps: Any, schema_editor: Any) -> None:
        decrypt_token_rows(apps.get_model(app_label, model_name), fields)

    return migrations.RunPython(forwards, backwards)
