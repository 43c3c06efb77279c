"""The customer's words, name, the resolution, the evidence snapshot and the timeline's notes
encrypted at rest (README, "Data map"): the columns become encrypted fields, then the rows
written before are encrypted in place. The description's length constraint goes (the column
holds ciphertext now; complaint_create still refuses more than 5,000 characters). The timeline
stays append-only, except that a re-encryption may rewrite its `note` (key rotation)."""

import pandorakart_wa.fields
from django.db import migrations

from pandorakart_wa.db import append_only_but_reencrypt_trigger, encrypt_columns


class Migration(migrations.Migration):

    dependencies = [
        ('complaints', '0002_roles_triggers_append_only'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='complaint',
            name='complaints_description_max',
        ),
        migrations.AlterField(
            model_name='complaint',
            name='customer_name',
            field=pandorakart_wa.fields.EncryptedTextField(blank=True, help_text='As the customer gave it (greeting; encrypted at rest).'),
        ),
        migrations.AlterField(
            model_name='complaint',
            name='description',
            field=pandorakart_wa.fields.EncryptedTextField(help_text='As the customer gave it (encrypted at rest; at most 5,000 characters).'),
        ),
        migrations.AlterField(
            model_name='complaint',
            name='evidence',
            field=pandorakart_wa.fields.EncryptedJSONField(blank=True, help_text='Ledger, messages, complaints (encrypted at rest).', null=True),
        ),
        migrations.AlterField(
            model_name='complaint',
            name='resolution',
            field=pandorakart_wa.fields.EncryptedTextField(blank=True, help_text='What the customer is told (shown through the API; encrypted at rest).'),
        ),
        migrations.AlterField(
            model_name='complaintaction',
            name='note',
            field=pandorakart_wa.fields.EncryptedTextField(blank=True, help_text="Staff notes and the customer's own messages (encrypted at rest)."),
        ),
        append_only_but_reencrypt_trigger(
            table="complaints_complaintaction", name="complaints_action_append_only", columns=("note",)
        ),
        encrypt_columns("complaints", "Complaint", "description", "customer_name", "resolution", "evidence"),
        encrypt_columns("complaints", "ComplaintAction", "note"),
    ]
