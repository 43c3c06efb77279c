from django.db import migrations

from pandorakart_wa.roles import AUDITOR, COMPLIANCE_OFFICER, MARKETING, SUPPORT_AGENT, grant

VIEW_ALL = [("messaging", f"view_{m}") for m in ("message", "messageevent", "campaign", "sendingpolicy")]


def grant_sending(apps, schema_editor):
    grant(apps, COMPLIANCE_OFFICER, [*VIEW_ALL, ("messaging", "add_campaign"), ("messaging", "run_campaign"),
                                     ("messaging", "change_sendingpolicy"), ("messaging", "stop_all_sending")])
    grant(apps, MARKETING, [("messaging", "view_message"), ("messaging", "view_campaign"),
                            ("messaging", "add_campaign"), ("messaging", "run_campaign"),
                            ("messaging", "view_sendingpolicy")])
    grant(apps, SUPPORT_AGENT, [("messaging", "view_message"), ("messaging", "view_messageevent"),
                                ("messaging", "view_campaign")])
    grant(apps, AUDITOR, VIEW_ALL)


class Migration(migrations.Migration):
    dependencies = [("messaging", "0003_outbox"), ("core", "0002_staff_roles")]

    operations = [migrations.RunPython(grant_sending, migrations.RunPython.noop)]
