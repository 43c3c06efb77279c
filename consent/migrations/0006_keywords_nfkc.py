"""Keywords are matched in NFKC from now on (fullwidth ＳＴＯＰ is STOP): store their
normalised form again. A keyword whose new form another already has is deactivated (it could
never match on its own), never deleted."""

from django.db import migrations

from consent.keywords import normalize_keyword


def renormalise(apps, schema_editor):
    OptOutKeyword = apps.get_model("consent", "OptOutKeyword")
    taken: set[str] = set()
    for keyword in OptOutKeyword.objects.order_by("pk"):
        normalized = normalize_keyword(keyword.phrase)
        if normalized in taken:
            keyword.active = False
            keyword.save(update_fields=["active"])
            continue
        taken.add(normalized)
        if normalized != keyword.normalized:
            keyword.normalized = normalized
            keyword.save(update_fields=["normalized"])


class Migration(migrations.Migration):
    dependencies = [("consent", "0005_revocation_clock")]

    operations = [migrations.RunPython(renormalise, migrations.RunPython.noop)]
