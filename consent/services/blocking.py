"""Staff block and unblock a contact (a block wins over any consent)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from consent.models import (
    Contact,
)
from consent.services.common import ConsentError
from consent.types import Actor


@transaction.atomic
def contact_block(*, contact: Contact, reason: str, actor: Actor) -> Contact:
    """Staff stop every message to a contact (abuse, legal hold...), whatever its consent."""
    if not reason.strip():
        raise ConsentError("Give a reason for blocking.", field="reason")
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    contact.blocked = True
    contact.blocked_reason = f"{reason.strip()[:400]} ({actor.label})"[:500]
    contact.blocked_at = timezone.now()
    contact.save(update_fields=["blocked", "blocked_reason", "blocked_at", "updated_at"])
    return contact


@transaction.atomic
def contact_unblock(*, contact: Contact, reason: str, actor: Actor) -> Contact:
    if not reason.strip():
        raise ConsentError("Give a reason for unblocking.", field="reason")
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    contact.blocked = False
    contact.blocked_reason = f"unblocked: {reason.strip()[:380]} ({actor.label})"[:500]
    contact.blocked_at = None
    contact.save(update_fields=["blocked", "blocked_reason", "blocked_at", "updated_at"])
    return contact
