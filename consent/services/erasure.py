"""DPDP erasure: the number's ciphertext and personal evidence removed, its digest kept so it stays
suppressed; every app's part erased in the same transaction (consent.hooks.privacy_erasers)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from consent.hooks import privacy_erasers
from consent.models import (
    Action,
    ConsentEvidence,
    Source,
)
from consent.services.common import ALL_PURPOSES, append, contact_locked, normalize
from consent.types import Actor, ConsentReceipt


@transaction.atomic
def consent_erase(*, phone: str, actor: Actor) -> ConsentReceipt:
    """DPDP erasure: remove the number's ciphertext, Meta ids and personal evidence; keep the
    digest, so the number stays suppressed for every purpose and the ledger stays verifiable.
    An unknown number is recorded (digest only) as erased, so it stays suppressed too."""
    e164 = normalize(phone)
    contact, _ = contact_locked(e164=e164)
    assert contact is not None
    now = timezone.now()
    ConsentEvidence.objects.filter(event__contact=contact, data__isnull=False).update(data=None, erased_at=now)
    events = append(
        contact=contact,
        action=Action.ERASE,
        items=[(p, None) for p in ALL_PURPOSES],
        source=Source.ERASURE_REQUEST,
        actor=actor,
    )
    contact.phone = None
    contact.wa_id = None
    contact.user_id = None
    contact.last_inbound_wamid = ""
    contact.erased = True
    contact.erased_at = now
    contact.save(update_fields=["phone", "wa_id", "user_id", "last_inbound_wamid", "erased", "erased_at", "updated_at"])
    for eraser in privacy_erasers:  # other apps' personal data (messages, complaints), same transaction
        eraser(contact=contact)
    return ConsentReceipt(contact=contact, events=events)
