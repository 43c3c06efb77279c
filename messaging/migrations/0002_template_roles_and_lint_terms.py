"""Template permissions for the four roles, and the starting lint term lists (staff edit them)."""

from django.db import migrations

from pandorakart_wa.roles import AUDITOR, COMPLIANCE_OFFICER, MARKETING, SUPPORT_AGENT, grant

VIEW = [
    ("messaging", "view_messagetemplate"),
    ("messaging", "view_templaterevision"),
    ("messaging", "view_templatestatusevent"),
    ("messaging", "view_lintterm"),
]
DRAFT = [("messaging", "add_messagetemplate"), ("messaging", "change_messagetemplate")]
REVIEW = [
    ("messaging", "approve_template"),
    ("messaging", "submit_template_to_meta"),
    ("messaging", "add_lintterm"),
    ("messaging", "change_lintterm"),
]

# Promotional wording: an ERROR in UTILITY and AUTHENTICATION templates ("mixed content is marketing").
PROMOTIONAL = (
    "offer", "offers", "discount", "discounts", "sale", "coupon", "coupons", "promo", "promo code",
    "cashback", "deal of the day", "deals", "buy now", "shop now", "limited time", "limited period", "hurry",
    "exclusive", "best price", "lowest price", "free gift", "clearance", "new arrivals",
    "recommended for you", "don't miss", "grab", "ऑफर", "छूट", "सेल", "कूपन", "मुफ्त",
)
# Abusive or disrespectful wording: an ERROR in every template (the policy promises respect).
ABUSIVE = (
    "idiot", "stupid", "dumb", "moron", "loser", "shut up", "pathetic", "useless", "defaulter",
    "cheater", "liar", "bewakoof", "pagal", "बेवकूफ", "पागल", "नालायक",
)


def forwards(apps, schema_editor):
    grant(apps, MARKETING, VIEW + DRAFT)
    grant(apps, COMPLIANCE_OFFICER, VIEW + DRAFT + REVIEW)
    grant(apps, AUDITOR, VIEW)
    grant(apps, SUPPORT_AGENT, [("messaging", "view_messagetemplate"), ("messaging", "view_templaterevision")])
    LintTerm = apps.get_model("messaging", "LintTerm")
    for kind, terms in (("promotional", PROMOTIONAL), ("abusive", ABUSIVE)):
        for term in terms:
            LintTerm.objects.get_or_create(kind=kind, term=term, defaults={"note": "Starting list"})


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
