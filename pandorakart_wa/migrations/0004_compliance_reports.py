"""The compliance dashboard's and reports' permissions, and who holds them.

- Compliance officer, Auditor: the dashboard, every report and the customer evidence pack.
- Support agent: the evidence pack only (masked number: they lack consent.reveal_phone), to
  answer a customer's "why did I get this message?"; no dashboard, no bulk export.
- Marketing: none (aggregate compliance posture and bulk exports are not theirs to read).
"""

from django.db import migrations, models

from pandorakart_wa.roles import AUDITOR, COMPLIANCE_OFFICER, SUPPORT_AGENT, grant

EVERYTHING = [
    ("core", "view_compliance_dashboard"),
    ("core", "export_consent_ledger"),
    ("core", "export_suppression_list"),
    ("core", "export_complaints_register"),
    ("core", "view_evidence_pack"),
]


def grant_reports(apps, schema_editor):
    grant(apps, COMPLIANCE_OFFICER, EVERYTHING)
    grant(apps, AUDITOR, EVERYTHING)
    grant(apps, SUPPORT_AGENT, [("core", "view_evidence_pack")])


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0003_backoffice_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="ComplianceReport",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ],
            options={
                "verbose_name": "compliance report",
                "permissions": [
                    ("view_compliance_dashboard", "Can view the compliance dashboard"),
                    ("export_consent_ledger", "Can export the consent ledger (CSV)"),
                    ("export_suppression_list", "Can export the suppression list (CSV, digests only)"),
                    ("export_complaints_register", "Can export the complaints register (CSV)"),
                    ("view_evidence_pack", "Can open a customer's evidence pack (HTML and JSON)"),
                ],
                "managed": False,
                "default_permissions": (),
            },
        ),
        migrations.RunPython(grant_reports, migrations.RunPython.noop),
    ]
