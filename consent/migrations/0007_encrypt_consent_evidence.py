"""Consent evidence (IP address, user agent, page, checkbox text, reasons) encrypted at rest: the
column becomes an encrypted field and the rows written before are encrypted in place. The ledger
hashes the evidence's digest, not its bytes, so the chain verifies as before."""

import pandorakart_wa.fields
from django.db import migrations

from pandorakart_wa.db import encrypt_columns


class Migration(migrations.Migration):

    dependencies = [
        ('consent', '0006_keywords_nfkc'),
    ]

    operations = [
        migrations.AlterField(
            model_name='consentevidence',
            name='data',
            field=pandorakart_wa.fields.EncryptedJSONField(blank=True, help_text='IP, user agent, page, reason... (encrypted at rest).', null=True),
        ),
        encrypt_columns("consent", "ConsentEvidence", "data"),
    ]
