"""Sign-in records for access review (DPDP Rules, Rule 6: logs reviewed to detect unauthorised
access): Compliance officers and Auditors may read django-axes's attempts, failures and access
logs; nobody edits them from the admin."""

from django.db import migrations

from pandorakart_wa.roles import AUDITOR, COMPLIANCE_OFFICER, grant

SIGN_IN_LOGS = [("axes", "view_accessattempt"), ("axes", "view_accessfailurelog"), ("axes", "view_accesslog")]


def grant_signin_logs(apps, schema_editor):
    grant(apps, COMPLIANCE_OFFICER, SIGN_IN_LOGS)
    grant(apps, AUDITOR, SIGN_IN_LOGS)


class Migration(migrations.Migration):
    dependencies = [("core", "0004_compliance_reports"), ("axes", "0009_add_session_hash")]

    operations = [migrations.RunPython(grant_signin_logs, migrations.RunPython.noop)]
