"""Messaging's part of the DPDP rights: what a customer's export holds, and what erasure removes.

Plugged into consent's export and erasure through consent.hooks (connected in pandorakart_wa/wiring.py)
(consent cannot import messaging).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from consent.models import Contact
from messaging.models import Message, MessageEvent, MessageStatus
from pandorakart_wa.core.api.fields import utc_iso


def messages_export(*, contact: Contact) -> list[dict[str, Any]]:
    """Every message to the customer, with its content and status history."""
    rows = (
        Message.objects.filter(contact=contact)
        .select_related("template", "revision")
        .prefetch_related("events")
        .order_by("created_at")
    )
    return [
        {
            "id": str(m.id),
            "template": m.template.name if m.template else None,
            "template_revision": m.revision.number if m.revision else None,
            "language": m.language,
            "variables": m.variables,
            "text": m.text,
            "purpose": m.purpose,
            "status": m.status,
            "reason": m.reason,
            "error": {"code": m.error_code, "title": m.error_title} if m.error_code or m.error_title else None,
            "created_at": utc_iso(m.created_at),
            "sent_at": utc_iso(m.sent_at) if m.sent_at else None,
            "events": [{"status": e.status, "at": utc_iso(e.at)} for e in m.events.all()],
        }
        for m in rows
    ]


def messages_erase(*, contact: Contact) -> int:
    """Erasure: nothing more is sent to the customer, and the personal content of past messages
    (variables, text) is removed. Status and timing stay, as evidence that sends were lawful."""
    now = timezone.now()
    pending = list(
        Message.objects.filter(contact=contact, status=MessageStatus.QUEUED).values_list("id", flat=True)
    )
    Message.objects.filter(id__in=pending).update(status=MessageStatus.CANCELLED, reason="contact_erased",
                                                  updated_at=now)
    MessageEvent.objects.bulk_create(
        [MessageEvent(message_id=mid, status=MessageStatus.CANCELLED, at=now, source=MessageEvent.Source.SYSTEM,
                      detail={"reason": "contact_erased"}) for mid in pending]
    )
    return Message.objects.filter(contact=contact).update(variables=[], text="", updated_at=now)
