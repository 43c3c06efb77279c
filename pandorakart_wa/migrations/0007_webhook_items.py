"""The inbound pipeline (issue 12): webhook bodies kept as encrypted bytes, not plaintext jsonb;
each update an item of its own, deduplicated by a keyed digest of Meta's id for it.

Existing events: their jsonb payload is encrypted into `body_token` (re-serialised: the original
bytes were never kept) and the plaintext column dropped. Events of the last 8 days (Meta
redelivers for 7) are read into items marked applied, so a redelivery of something the earlier
pipeline applied is not applied again; events the earlier pipeline had not finished (deferred
statuses) are left unread, for the sweep to read and apply.
"""

import json
from datetime import timedelta

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

import pandorakart_wa.fields
from pandorakart_wa.roles import AUDITOR, COMPLIANCE_OFFICER, grant

REDELIVERY_WINDOW = timedelta(days=8)


def encrypt_bodies(apps, schema_editor):
    from pandorakart_wa.fields import encrypt_bytes, keyed_digest
    from pandorakart_wa.webhooks.intake import item_rows
    from pandorakart_wa.whatsapp.inbound import parse_payload

    WebhookEvent = apps.get_model("core", "WebhookEvent")
    WebhookItem = apps.get_model("core", "WebhookItem")
    recent = timezone.now() - REDELIVERY_WINDOW
    for event in WebhookEvent.objects.order_by("pk").iterator(chunk_size=500):
        raw = json.dumps(event.payload, sort_keys=True).encode()
        event.body_token = encrypt_bytes(raw)
        event.body_size = len(raw)
        event.body_digest = keyed_digest(raw, purpose="webhook-body")
        if event.processed_at is not None:
            event.split_at = event.processed_at
            if event.received_at >= recent:
                rows = item_rows(parse_payload(event.payload, received_at=event.received_at).items)
                for row in rows:
                    if not WebhookItem.objects.filter(key_digest=row.key_digest).exists():
                        WebhookItem.objects.create(
                            event=event, position=row.position, kind=row.kind, field=row.field,
                            key_digest=row.key_digest, state="applied", opt_out=row.opt_out, in_scope=row.in_scope,
                            occurred_at=row.occurred_at, received_at=event.received_at, phone_digest=row.phone_digest,
                            user_id=row.user_id, payload=row.payload, applied_at=event.processed_at,
                            note="applied by the earlier pipeline",
                        )
                event.item_count = len(rows)
        event.save()


def body_storage_external(apps, schema_editor):
    # Ciphertext does not compress: skip PostgreSQL's attempt to (a 3 MB body's took milliseconds).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE core_webhookevent ALTER COLUMN body_token SET STORAGE EXTERNAL")


def grant_items(apps, schema_editor):
    grant(apps, AUDITOR, [("core", "view_webhookitem")])
    grant(apps, COMPLIANCE_OFFICER, [("core", "view_webhookitem"), ("core", "replay_webhookitem")])


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0006_webhook_deferred_statuses'),
    ]

    operations = [
        migrations.RemoveIndex(model_name='webhookevent', name='core_webhook_deferred_pending'),
        migrations.RemoveField(model_name='webhookevent', name='deferred'),
        migrations.RenameField(model_name='webhookevent', old_name='body_sha256', new_name='body_digest'),
        migrations.AlterField(
            model_name='webhookevent', name='body_digest',
            field=models.CharField(help_text="Keyed HMAC of the body's bytes.", max_length=64, unique=True),
        ),
        migrations.AddField(
            model_name='webhookevent', name='body_token',
            field=models.TextField(blank=True, help_text="The body's bytes, encrypted (FIELD_ENCRYPTION_KEYS); null once redacted.", null=True),
        ),
        migrations.AddField(model_name='webhookevent', name='body_size', field=models.PositiveIntegerField(default=0)),
        migrations.AddField(
            model_name='webhookevent', name='item_count',
            field=models.PositiveIntegerField(default=0, help_text='Updates read from the body.'),
        ),
        migrations.AddField(
            model_name='webhookevent', name='split_at',
            field=models.DateTimeField(blank=True, help_text='When the body was read into items (the sweep retries an event left unread).', null=True),
        ),
        migrations.AddField(model_name='webhookevent', name='split_attempts', field=models.PositiveSmallIntegerField(default=0)),
        migrations.AddField(model_name='webhookevent', name='redacted_at', field=models.DateTimeField(blank=True, null=True)),
        migrations.AlterField(
            model_name='webhookevent', name='received_at', field=models.DateTimeField(db_index=True),
        ),
        migrations.AlterField(
            model_name='webhookevent', name='error',
            field=models.TextField(blank=True, help_text='Why the body could not be read (or not all of it).'),
        ),
        migrations.AlterField(
            model_name='webhookevent', name='processed_at',
            field=models.DateTimeField(blank=True, help_text='When every item reached a final state.', null=True),
        ),
        migrations.CreateModel(
            name='WebhookItem',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveIntegerField(help_text="Order in the event's body.")),
                ('kind', models.CharField(max_length=24)),
                ('field', models.CharField(max_length=128)),
                ('key_digest', models.CharField(max_length=64, unique=True)),
                ('state', models.CharField(choices=[('pending', 'Pending'), ('applied', 'Applied'), ('skipped', 'Recorded, nothing to apply'), ('failed', 'Failed, will be retried'), ('dead', 'Dead-lettered (needs staff)')], default='pending', max_length=16)),
                ('opt_out', models.BooleanField(default=False, help_text='An opt-out: applied before the webhook is answered.')),
                ('in_scope', models.BooleanField(default=True, help_text="For one of this service's numbers / accounts.")),
                ('occurred_at', models.DateTimeField(help_text="Meta's timestamp, clamped to the receipt time.")),
                ('received_at', models.DateTimeField()),
                ('phone_digest', models.CharField(blank=True, db_index=True, help_text="The customer's number, digested.", max_length=64)),
                ('user_id', models.CharField(blank=True, help_text="The customer's BSUID, when Meta sent one.", max_length=160)),
                ('payload', pandorakart_wa.fields.EncryptedTextField(help_text='The update (JSON), encrypted.')),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('applied_at', models.DateTimeField(blank=True, null=True)),
                ('last_error', models.TextField(blank=True)),
                ('note', models.CharField(blank=True, help_text='What applying it did (or why nothing).', max_length=200)),
                ('event', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='items', to='core.webhookevent')),
            ],
            options={
                'ordering': ['-received_at', '-id'],
                'permissions': [('replay_webhookitem', 'Can replay dead-lettered webhook items')],
                'indexes': [
                    models.Index(condition=models.Q(('state__in', ['pending', 'failed'])), fields=['-opt_out', 'occurred_at', 'id'], name='core_webhookitem_open'),
                    models.Index(fields=['event', 'position'], name='core_webhookitem_event'),
                    models.Index(fields=['state', 'received_at'], name='core_webhookitem_state'),
                ],
            },
        ),
        migrations.RunPython(encrypt_bodies, migrations.RunPython.noop),
        migrations.RemoveField(model_name='webhookevent', name='payload'),
        migrations.AddIndex(
            model_name='webhookevent',
            index=models.Index(condition=models.Q(('split_at__isnull', True)), fields=['received_at'], name='core_webhook_unsplit'),
        ),
        migrations.AddIndex(
            model_name='webhookevent',
            index=models.Index(condition=models.Q(('processed_at__isnull', True)), fields=['id'], name='core_webhook_unfinished'),
        ),
        migrations.RunPython(grant_items, migrations.RunPython.noop),
        migrations.RunPython(body_storage_external, migrations.RunPython.noop),
    ]
