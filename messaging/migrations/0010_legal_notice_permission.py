"""The legal-notice audience (everyone holding any consent) is a compliance officer's: its own permission."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0009_encrypt_message_content'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='campaign',
            options={'ordering': ['-created_at'], 'permissions': [('run_campaign', 'Can start, pause, resume and cancel campaigns'), ('send_legal_notice', 'Can send a legal notice to everyone holding any consent')]},
        ),
    ]
