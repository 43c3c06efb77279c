"""Staff roles: Compliance officers manage everything here; Marketing and Support agents read
the profile and the policy; Auditors read everything."""

from django.db import migrations

from pandorakart_wa.roles import AUDITOR, COMPLIANCE_OFFICER, MARKETING, SUPPORT_AGENT, grant

APP = "business_profile"
MODELS = ("businessprofile", "profilesyncrun", "profiledrift", "policyversion", "regulatorychange", "compliancealert")
CUSTOM = ("sync_businessprofile", "resolve_profiledrift", "publish_policyversion", "acknowledge_compliancealert")


def grant_roles(apps, schema_editor):
    everything = [(APP, f"{action}_{model}") for model in MODELS for action in ("add", "change", "delete", "view")]
    grant(apps, COMPLIANCE_OFFICER, [*everything, *((APP, codename) for codename in CUSTOM)])
    grant(apps, AUDITOR, [(APP, f"view_{model}") for model in MODELS])
    readers = [(APP, "view_businessprofile"), (APP, "view_policyversion")]
    grant(apps, MARKETING, readers)
    grant(apps, SUPPORT_AGENT, readers)


class Migration(migrations.Migration):
    dependencies = [
        ("business_profile", "0001_initial"),
        ("core", "0002_staff_roles"),
    ]

    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
