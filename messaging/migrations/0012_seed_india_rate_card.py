"""The rate card's defaults: Meta's per-message rates for India, in INR, in force since
1 January 2026 (Meta's rate cards: https://developers.facebook.com/documentation/business-messaging/whatsapp/pricing).

Read on 1 December 2026 from https://whats91.com/pricing ("Official Meta Rates (India), effective
January 1, 2026, per delivered message, INR billing": marketing 0.8631, utility 0.1150,
authentication 0.1150, service free), the same figures as triochat's copy of Meta's India prices
(https://dev.to/palash_gupta_883252c73ea5/metas-whatsapp-business-platform-pricing-44a9). Meta's
own rate-card file could not be read from here: staff compare these lines with it and add a line
with a later `effective_from` when Meta changes a rate (the admin's rate card). Utility and
authentication have volume tiers above 750,000 messages a month; these are the base rates.
Compliance officers edit the rate card; Auditors and Marketing read it.
"""

import datetime
from decimal import Decimal

from django.db import migrations

from pandorakart_wa.roles import AUDITOR, COMPLIANCE_OFFICER, MARKETING, grant

SOURCE_URL = "https://whats91.com/pricing"
CHECKED_ON = datetime.date(2026, 12, 1)
EFFECTIVE_FROM = datetime.date(2026, 1, 1)
NOTE = "Meta's India rate card (INR), base tier; as reproduced by the source. Verify against Meta's rate card."
RATES = {
    "marketing": Decimal("0.8631"),
    "utility": Decimal("0.1150"),
    "authentication": Decimal("0.1150"),
    "service": Decimal("0.0000"),
}


def seed_rates(apps, schema_editor):
    MessageRate = apps.get_model("messaging", "MessageRate")
    for category, rate in RATES.items():
        MessageRate.objects.get_or_create(
            market="IN", category=category, effective_from=EFFECTIVE_FROM,
            defaults={"currency": "INR", "rate": rate, "source_url": SOURCE_URL, "checked_on": CHECKED_ON,
                      "note": NOTE},
        )


def grant_rate_card(apps, schema_editor):
    grant(apps, COMPLIANCE_OFFICER, [("messaging", "view_messagerate"), ("messaging", "add_messagerate"),
                                     ("messaging", "change_messagerate")])
    grant(apps, AUDITOR, [("messaging", "view_messagerate")])
    grant(apps, MARKETING, [("messaging", "view_messagerate")])


class Migration(migrations.Migration):

    dependencies = [("messaging", "0011_message_pricing_and_rate_card")]

    operations = [
        migrations.RunPython(seed_rates, migrations.RunPython.noop),
        migrations.RunPython(grant_rate_card, migrations.RunPython.noop),
    ]
