"""The hand-off step (an agent's investigation done, waiting in the officers' queue) and the
receipt's own labels: the automatic WhatsApp receipt is not the first response, and an
anonymous complaint cannot be acknowledged at all (it was labelled an internal investigation)."""

from django.db import migrations, models


def anonymous_receipts(apps, schema_editor):
    Complaint = apps.get_model("complaints", "Complaint")
    Complaint.objects.filter(acknowledgement="not_needed", acknowledgement_detail__startswith="Anonymous").update(
        acknowledgement="anonymous"
    )


def back(apps, schema_editor):
    Complaint = apps.get_model("complaints", "Complaint")
    Complaint.objects.filter(acknowledgement="anonymous").update(acknowledgement="not_needed")
    Complaint.objects.filter(status="ready_for_officer").update(status="investigating")


class Migration(migrations.Migration):

    dependencies = [
        ('complaints', '0003_encrypt_customer_text'),
    ]

    operations = [
        migrations.AlterField(
            model_name='complaint',
            name='acknowledgement',
            field=models.CharField(choices=[('pending', 'Receipt being sent'), ('sent', 'Receipt sent on WhatsApp (automatic)'), ('owed', "Receipt owed: staff must send it on the complaint's channel"), ('recorded', "Receipt given by staff on the complaint's channel"), ('not_needed', 'Not needed (internal investigation)'), ('anonymous', 'Not possible: anonymous, no contact details')], default='pending', max_length=16),
        ),
        migrations.AlterField(
            model_name='complaint',
            name='status',
            field=models.CharField(choices=[('received', 'Received'), ('acknowledged', 'Acknowledged by staff'), ('investigating', 'Investigating'), ('awaiting_customer', 'Awaiting customer (clock paused)'), ('ready_for_officer', 'Ready for an officer'), ('resolved', 'Resolved'), ('closed', 'Closed'), ('reopened', 'Reopened')], default='received', max_length=20),
        ),
        migrations.AlterField(
            model_name='complaintaction',
            name='from_status',
            field=models.CharField(blank=True, choices=[('received', 'Received'), ('acknowledged', 'Acknowledged by staff'), ('investigating', 'Investigating'), ('awaiting_customer', 'Awaiting customer (clock paused)'), ('ready_for_officer', 'Ready for an officer'), ('resolved', 'Resolved'), ('closed', 'Closed'), ('reopened', 'Reopened')], max_length=20),
        ),
        migrations.AlterField(
            model_name='complaintaction',
            name='to_status',
            field=models.CharField(blank=True, choices=[('received', 'Received'), ('acknowledged', 'Acknowledged by staff'), ('investigating', 'Investigating'), ('awaiting_customer', 'Awaiting customer (clock paused)'), ('ready_for_officer', 'Ready for an officer'), ('resolved', 'Resolved'), ('closed', 'Closed'), ('reopened', 'Reopened')], max_length=20),
        ),
        migrations.RunPython(anonymous_receipts, back),
    ]
