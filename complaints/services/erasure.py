"""DPDP erasure of a customer's complaints (consent.hooks.privacy_erasers)."""

from __future__ import annotations

from django.utils import timezone

from complaints.models import (
    Complaint,
    ComplaintAction,
)
from complaints.services.common import action_record, evidence_store
from consent.models import Contact


def complaints_erase(*, contact: Contact) -> int:
    """Erasure of a customer (called inside consent_erase's transaction, after the contact's
    number and ledger evidence were removed): their name and reply address go, and each
    evidence snapshot is assembled again from what remains (no number, no ledger evidence).
    The complaint, its description and timeline stay: the record that a grievance was handled
    is kept for the legal obligation (DPDP s.8(7)); the timeline is append-only anyway."""
    now = timezone.now()
    count = 0
    for complaint in Complaint.objects.select_for_update().filter(contact=contact).only(
        "pk", "customer_name", "contact_details", "evidence", "contact", "template", "message", "reference",
        "status", "channel", "category", "created_at", "outcome", "description",
    ):
        complaint.customer_name = ""
        complaint.contact_details = ""
        complaint.save(update_fields=["customer_name", "contact_details", "updated_at"])
        if complaint.evidence is not None:
            evidence_store(complaint, now)
        action_record(complaint, ComplaintAction.Kind.DETAILS, actor=None, at=now,
                note="The customer's personal data was erased at their request (name, reply address, evidence).")
        count += 1
    return count
