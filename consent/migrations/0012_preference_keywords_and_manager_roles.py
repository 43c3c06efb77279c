"""The preference-centre keywords (PREFERENCES, पसंद), and the staff roles' rights on consent
managers: Compliance officers register them, Auditors read them and their artefacts."""

from django.db import migrations

from consent.keywords import PREFERENCE_KEYWORDS, normalize_keyword
from pandorakart_wa.roles import AUDITOR, COMPLIANCE_OFFICER, grant


def seed_keywords(apps, schema_editor):
    OptOutKeyword = apps.get_model("consent", "OptOutKeyword")
    for phrase, action, scope, language, reply in PREFERENCE_KEYWORDS:
        OptOutKeyword.objects.get_or_create(
            normalized=normalize_keyword(phrase),
            defaults={"phrase": phrase, "action": action, "scope": scope, "language": language, "reply_text": reply},
        )


def grant_roles(apps, schema_editor):
    view = [("consent", "view_consentmanager"), ("consent", "view_consentmanagerkey"),
            ("consent", "view_consentartefactaction")]
    grant(apps, COMPLIANCE_OFFICER, [*view, ("consent", "add_consentmanager"), ("consent", "change_consentmanager")])
    grant(apps, AUDITOR, view)


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0011_preference_centre_and_consent_managers"),
    ]

    operations = [
        migrations.RunPython(seed_keywords, migrations.RunPython.noop),
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
    ]
