"""API.md's keyword list, and the staff roles' consent permissions."""

from django.db import migrations

from consent.keywords import DEFAULT_KEYWORDS, normalize_keyword
from pandorakart_wa.roles import AUDITOR, COMPLIANCE_OFFICER, MARKETING, SUPPORT_AGENT, grant

MODELS = ("contact", "consentnotice", "consentevent", "consentevidence", "consentstate", "optoutkeyword",
          "ledgerverification")


def seed_keywords(apps, schema_editor):
    OptOutKeyword = apps.get_model("consent", "OptOutKeyword")
    for phrase, action, scope, language, reply in DEFAULT_KEYWORDS:
        OptOutKeyword.objects.get_or_create(
            normalized=normalize_keyword(phrase),
            defaults={"phrase": phrase, "action": action, "scope": scope, "language": language, "reply_text": reply},
        )


def grant_roles(apps, schema_editor):
    view_all = [("consent", f"view_{m}") for m in MODELS]
    grant(
        apps,
        COMPLIANCE_OFFICER,
        [
            *view_all,
            ("consent", "reveal_phone"),
            ("consent", "opt_out_contact"),
            ("consent", "block_contact"),
            ("consent", "add_consentnotice"),
            ("consent", "change_consentnotice"),
            ("consent", "add_optoutkeyword"),
            ("consent", "change_optoutkeyword"),
            ("consent", "delete_optoutkeyword"),
        ],
    )
    grant(
        apps,
        SUPPORT_AGENT,
        [
            ("consent", "view_contact"),
            ("consent", "view_consentevent"),
            ("consent", "view_consentstate"),
            ("consent", "view_consentnotice"),
            ("consent", "opt_out_contact"),
        ],
    )
    grant(apps, AUDITOR, view_all)
    grant(apps, MARKETING, [("consent", "view_contact"), ("consent", "view_consentstate"),
                            ("consent", "view_consentnotice")])


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0002_ledger_append_only_trigger"),
        ("core", "0002_staff_roles"),
    ]

    operations = [
        migrations.RunPython(seed_keywords, migrations.RunPython.noop),
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
    ]
