"""On PostgreSQL the consent ledger rejects UPDATE and DELETE at the database itself, whatever
the code path (raw SQL, a shell, another service). SQLite (the run command) relies on the code."""

from django.db import migrations

from pandorakart_wa.db import append_only_trigger


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]

    operations = [append_only_trigger(table="consent_consentevent", name="consent_event_append_only")]
