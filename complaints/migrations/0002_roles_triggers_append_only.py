"""The staff roles' complaint permissions, the starting WhatsApp intake words (staff edit them),
and, on PostgreSQL, a trigger that keeps the complaint timeline append-only."""

from django.db import migrations

from complaints.intake import DEFAULT_TRIGGERS, normalize_phrase
from pandorakart_wa.db import append_only_trigger
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


class Migration(migrations.Migration):
    dependencies = [
        ("complaints", "0001_initial"),
        ("core", "0002_staff_roles"),
    ]

    operations = [
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
        migrations.RunPython(seed_triggers, migrations.RunPython.noop),
        append_only_trigger(table="complaints_complaintaction", name="complaints_action_append_only"),
    ]
