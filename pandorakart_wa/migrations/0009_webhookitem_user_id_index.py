"""An index on WebhookItem.user_id: the customer page finds a customer's messages by their BSUID
as well as by their number's digest. Built CONCURRENTLY on PostgreSQL, where webhooks write to
this table all the time (a plain CREATE INDEX would hold their inserts for the whole build)."""

from django.db import migrations, models

INDEX = models.Index(fields=["user_id"], name="core_webhookitem_user_id")


def create(apps, schema_editor):
    model = apps.get_model("core", "WebhookItem")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{INDEX.name}" ON "{model._meta.db_table}" ("user_id")'
        )
    else:
        schema_editor.add_index(model, INDEX)


def drop(apps, schema_editor):
    model = apps.get_model("core", "WebhookItem")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{INDEX.name}"')
    else:
        schema_editor.remove_index(model, INDEX)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("core", "0008_roles_for_the_officers_day"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="webhookitem", index=INDEX)],
            database_operations=[migrations.RunPython(create, drop)],
        ),
    ]
