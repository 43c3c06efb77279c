"""The roles after issue 16 (the compliance officer's day), in one place:

- Support agent: `consent.reveal_phone`. Every reveal of a customer's number or contact details
  (the contact page, a complaint's "Reveal contact details", the evidence pack, a webhook's raw
  body) is one rule: that permission, a POST, and an ACCESS entry in the audit trail. Agents
  answer complaints on the customer's own channel (an owed receipt by email or phone), so they
  hold it; each reveal names them in the trail.
- Auditor: `complaints.export_complaint_evidence` (a read, audited like every export).
- Compliance officer: `axes.delete_accessattempt` (lift a sign-in lockout: the audited "Unlock"
  action), `messaging.send_legal_notice` (the everyone-with-any-consent audience), and
  `consent.add_ledgerverification` (run the ledger verification now, from the dashboard).
- Marketing: no individual customers. Contacts, consent states and single messages are taken
  away; Marketing works on templates and campaigns, whose pages show the counts it needs.
"""

from django.db import migrations

from pandorakart_wa.roles import AUDITOR, COMPLIANCE_OFFICER, MARKETING, SUPPORT_AGENT, grant, revoke

MARKETING_TAKEN = [("consent", "view_contact"), ("consent", "view_consentstate"), ("messaging", "view_message")]


def forwards(apps, schema_editor):
    grant(apps, SUPPORT_AGENT, [("consent", "reveal_phone")])
    grant(apps, AUDITOR, [("complaints", "export_complaint_evidence")])
    grant(apps, COMPLIANCE_OFFICER, [
        ("axes", "delete_accessattempt"), ("messaging", "send_legal_notice"), ("consent", "add_ledgerverification"),
    ])
    revoke(apps, MARKETING, MARKETING_TAKEN)


def backwards(apps, schema_editor):
    revoke(apps, SUPPORT_AGENT, [("consent", "reveal_phone")])
    revoke(apps, AUDITOR, [("complaints", "export_complaint_evidence")])
    revoke(apps, COMPLIANCE_OFFICER, [
        ("axes", "delete_accessattempt"), ("messaging", "send_legal_notice"), ("consent", "add_ledgerverification"),
    ])
    grant(apps, MARKETING, MARKETING_TAKEN)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0007_webhook_items"),
        ("consent", "0006_keywords_nfkc"),
        ("messaging", "0010_legal_notice_permission"),
        ("complaints", "0004_ready_for_officer_and_receipt_labels"),
        ("axes", "0009_add_session_hash"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
