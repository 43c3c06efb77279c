"""The ledger becomes a verifiable log (consent.log).

1. On PostgreSQL the append-only trigger lets the sequencer do the one update the log needs,
   giving an event its position (sequence from NULL to a value, every other column unchanged);
   everything else is still refused, whatever the code path.
2. The events of the old hash chain become the log's first leaves, in chain order: leaf i is
   event #i+1, its leaf bytes the canonical JSON its chain hash covers (consent.ledger), so the
   chain stays verifiable and the log commits to it. The sequencer signs the first checkpoint
   on its first run. Streamed: memory stays flat however long the chain.
3. Compliance officers and auditors may view the signed checkpoints in the admin.
"""

from typing import Any

from django.db import migrations

from consent.ledger import LEAF_COLUMNS, leaf_bytes
from consent.merkle import Frontier, leaf_hash
from consent.tiles import TileWriter
from pandorakart_wa.roles import AUDITOR, COMPLIANCE_OFFICER, grant

SEQUENCING_TRIGGER = """
CREATE OR REPLACE FUNCTION consent_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.sequence IS NULL AND NEW.sequence IS NOT NULL
       AND (to_jsonb(NEW) - 'sequence') = (to_jsonb(OLD) - 'sequence') THEN
        RETURN NEW;  -- the sequencer gives the event its position, once
    END IF;
    RAISE EXCEPTION 'consent_consentevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

APPEND_ONLY_TRIGGER = """
CREATE OR REPLACE FUNCTION consent_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'consent_consentevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

FLUSH_TILES = 64


def trigger_forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SEQUENCING_TRIGGER, params=None)


def trigger_backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_TRIGGER, params=None)


def chain_to_leaves(apps: Any, schema_editor: Any) -> None:
    ConsentEvent = apps.get_model("consent", "ConsentEvent")
    LedgerTile = apps.get_model("consent", "LedgerTile")
    LedgerHead = apps.get_model("consent", "LedgerHead")
    frontier = Frontier()
    writer = TileWriter()

    def flush() -> None:
        tiles = writer.take()
        LedgerTile.objects.bulk_create(
            [LedgerTile(level=level, index=index, hashes=hashes) for (level, index), hashes in tiles.items()],
            update_conflicts=True, unique_fields=["level", "index"], update_fields=["hashes"],
        )

    rows = (
        ConsentEvent.objects.filter(sequence__isnull=False)
        .order_by("sequence")
        .values_list("sequence", *LEAF_COLUMNS)
        .iterator(chunk_size=5000)
    )
    for row in rows:
        if row[0] != frontier.size + 1:
            raise RuntimeError(
                f"The consent ledger's chain has event #{row[0]} where #{frontier.size + 1} belongs: run "
                "verify_consent_ledger on the previous release and restore the ledger before migrating."
            )
        for level, index, node in frontier.append(leaf_hash(leaf_bytes(row[1:]))):
            writer.add(level, index, node)
        if len(writer.changed) >= FLUSH_TILES:
            flush()
    flush()
    LedgerHead.objects.update_or_create(pk=1, defaults={"size": frontier.size, "frontier": frontier.packed()})


def leaves_backwards(apps: Any, schema_editor: Any) -> None:
    apps.get_model("consent", "LedgerTile").objects.all().delete()
    apps.get_model("consent", "LedgerHead").objects.all().delete()


def grant_roles(apps: Any, schema_editor: Any) -> None:
    for role in (COMPLIANCE_OFFICER, AUDITOR):
        grant(apps, role, [("consent", "view_ledgercheckpoint")])


class Migration(migrations.Migration):

    dependencies = [
        ("consent", "0009_verifiable_log"),
    ]

    operations = [
        migrations.RunPython(trigger_forwards, trigger_backwards),
        migrations.RunPython(chain_to_leaves, leaves_backwards),
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
    ]
