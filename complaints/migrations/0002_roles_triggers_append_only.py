"""The staff roles' complaint permissions, the starting WhatsApp intake words (staff edit them),
and, on PostgreSQL, a trigger that keeps the complaint timeline append-only."""

from django.db import migrations

from complaints.intake import DEFAULT_TRIGGERS, normalize_phrase
from pandorakart_wa.roles import AUDITOR, COMPLIANCE_OFFICER, SUPPORT_AGENT, grant

VIEW = [
    ("complaints", "view_complaint"),
    ("complaints", "view_complaintaction"),
    ("complaints", "view_complaintsignal"),
    ("complaints", "view_intaketrigger"),
]
INVESTIGATE = [("complaints", "add_complaint"), ("complaints", "investigate_complaint")]
COMPLIANCE = [
    ("complaints", "resolve_complaint"),
    ("complaints", "escalate_complaint"),
    ("complaints", "assign_complaint"),
    ("complaints", "export_complaint_evidence"),
    ("complaints", "add_intaketrigger"),
    ("complaints", "change_intaketrigger"),
]

CREATE_TRIGGER = """
CREATE OR REPLACE FUNCTION complaints_action_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'complaints_complaintaction is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS complaints_action_append_only ON complaints_complaintaction;
CREATE TRIGGER complaints_action_append_only
    BEFORE UPDATE OR DELETE ON complaints_complaintaction
    FOR EACH ROW EXECUTE FUNCTION complaints_action_append_only();
"""
DROP_TRIGGER = """
DROP TRIGGER IF EXISTS complaints_action_append_only ON complaints_complaintaction;
DROP FUNCTION IF EXISTS complaints_action_append_only();
"""


def grant_roles(apps, schema_editor):
    grant(apps, COMPLIANCE_OFFICER, VIEW + INVESTIGATE + COMPLIANCE)
    grant(apps, SUPPORT_AGENT, VIEW + INVESTIGATE)
    grant(apps, AUDITOR, VIEW)


def seed_triggers(apps, schema_editor):
    IntakeTrigger = apps.get_model("complaints", "IntakeTrigger")
    for phrase, kind, whole_message in DEFAULT_TRIGGERS:
        IntakeTrigger.objects.get_or_create(
            normalized=normalize_phrase(phrase),
            defaults={"phrase": phrase, "kind": kind, "whole_message": whole_message},
        )


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_TRIGGER, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGER, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("complaints", "0001_initial"),
        ("core", "0002_staff_roles"),
    ]

    operations = [
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
        migrations.RunPython(seed_triggers, migrations.RunPython.noop),
        migrations.RunPython(create_trigger, drop_trigger),
    ]
