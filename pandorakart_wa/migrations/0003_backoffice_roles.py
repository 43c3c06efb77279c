"""The back office's part of the role matrix: the audit trail, staff accounts, API keys, Meta's
webhook events and authenticators. Each app grants its own models' permissions in its own
migration (pandorakart_wa.roles.grant).

- Compliance officer: the audit screen; view staff and roles; view, rename, expire or revoke
  API keys; view webhook events; view authenticators and delete one (a lost phone: the user
  enrols again at the next sign-in).
- Auditor: view all of the above, change nothing.
- Support agent, Marketing: nothing here (no global audit screen, no staff or key admin).
"""

from django.db import migrations

from pandorakart_wa.roles import AUDITOR, COMPLIANCE_OFFICER, grant

VIEW_ALL = [
    ("auditlog", "view_logentry"),
    ("auth", "view_user"),
    ("auth", "view_group"),
    ("core", "view_storefrontapikey"),
    ("core", "view_webhookevent"),
    ("otp_totp", "view_totpdevice"),
]


def grant_backoffice(apps, schema_editor):
    grant(apps, AUDITOR, VIEW_ALL)
    grant(
        apps,
        COMPLIANCE_OFFICER,
        [*VIEW_ALL, ("core", "change_storefrontapikey"), ("otp_totp", "delete_totpdevice")],
    )


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_staff_roles"),
        ("auditlog", "0017_add_actor_email"),
        ("otp_totp", "0003_add_timestamps"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant_backoffice, migrations.RunPython.noop)]
