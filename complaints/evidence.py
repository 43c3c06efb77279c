"""The evidence of a complaint, assembled from the apps below it as one JSON document.

For a complaint that names a customer: the consent ledger of the number (each event with its
evidence), the messages of the 90 days before the complaint with template and revision, their
status events and errors, and for each message the consent in force when it was sent; the
earlier complaints and the block/report signals of the customer. For a complaint about a
template: its state, its status history and its recent signals.

"In force" is computed from the ledger by replaying, in ledger order, the events that had
occurred by the send time, with the projection's rule (a withdrawal always takes effect; a
consent only if it did not occur before the decision in force). `known_at_send` replays only
the events already recorded then: what the send-time gate could see. They differ when a
withdrawal reached us after the message left (e.g. Meta's delayed user_preferences).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db.models import Q

from complaints.models import Complaint, ComplaintSignal
from consent.models import ConsentEvent
from consent.selectors import consent_in_force, contact_history_with_evidence, contact_states
from messaging.selectors import MessageWithEvents, messages_with_events, template_status_history

if TYPE_CHECKING:
    from complaints.models import Complaint

MESSAGE_LOOKBACK = dt.timedelta(days=90)  # the issue: messages of the last 90 days
SIGNAL_LOOKBACK = dt.timedelta(days=7)
EVIDENCE_FORMAT = "pandorakart-complaint-evidence/1"


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _ledger_item(event: ConsentEvent) -> dict[str, Any]:
    evidence = getattr(event, "evidence", None) if event.evidence_sha256 else None
    return {
        "event": event.public_id,
        "sequence": event.sequence,
        "action": event.action,
        "purpose": event.purpose,
        "source": event.source,
        "notice_version": event.notice_version,
        "notice_sha256": event.notice_sha256,
        "actor_type": event.actor_type,
        "actor": event.actor_label,
        "occurred_at": _iso(event.occurred_at),
        "recorded_at": _iso(event.recorded_at),
        "evidence": evidence.data if evidence is not None else None,
        "evidence_sha256": event.evidence_sha256,
        "hash": event.hash,
        "leaf_index": event.leaf_index,  # its place in the ledger's Merkle tree (GET /api/v1/ledger/proof/{event})
    }


def _message_item(sent: MessageWithEvents, events: Sequence[ConsentEvent]) -> dict[str, Any]:
    message = sent.message
    at = message.sent_at or message.created_at
    return {
        "id": str(message.pk),
        "wamid": message.wamid,
        "kind": message.kind,
        "purpose": message.purpose,
        "template": message.template.name if message.template is not None else None,
        "language": message.language,
        "revision": message.revision.number if message.revision is not None else None,
        "campaign": message.campaign_id,
        "status": message.status,
        "reason": message.reason,
        "error": {"code": message.error_code, "title": message.error_title} if message.error_code else None,
        "created_at": _iso(message.created_at),
        "sent_at": _iso(message.sent_at),
        "consent_in_force": consent_in_force(events, message.purpose, at),
        "consent_known_at_send": consent_in_force(events, message.purpose, at, known_only=True),
        "events": [
            {"status": e.status, "at": _iso(e.at), "source": e.source, "detail": e.detail}
            for e in sent.events
        ],
    }


def _complaint_item(complaint: Complaint) -> dict[str, Any]:
    return {
        "reference": complaint.reference,
        "status": complaint.status,
        "channel": complaint.channel,
        "category": complaint.category,
        "created_at": _iso(complaint.created_at),
        "outcome": complaint.outcome,
    }


def _template_part(complaint: Complaint, now: dt.datetime) -> dict[str, Any] | None:

    template = complaint.template
    if template is None:
        return None
    revision = template.approved_revision
    history = template_status_history(template=template, since=complaint.created_at - MESSAGE_LOOKBACK)
    signals = ComplaintSignal.objects.filter(template=template, occurred_at__gte=now - SIGNAL_LOOKBACK)
    counts: dict[str, int] = {}
    for kind in signals.values_list("kind", flat=True):
        counts[kind] = counts.get(kind, 0) + 1
    return {
        "name": template.name,
        "language": template.language,
        "category": template.category,
        "purpose": template.purpose,
        "revision_in_use": revision.number if revision is not None else None,
        "body": revision.body if revision is not None else None,
        "meta_status": template.meta_status,
        "quality": template.quality,
        "hold_reason": template.hold_reason,
        "history": [
            {"kind": e.kind, "source": e.source, "old": e.old_value, "new": e.new_value, "reason": e.reason,
             "revision": e.revision.number if e.revision is not None else None, "at": _iso(e.created_at)}
            for e in history
        ],
        "signals_last_7_days": counts,
    }


def complaint_evidence(complaint: Complaint, *, now: dt.datetime) -> dict[str, Any]:
    """The evidence document of `complaint` as of `now` (JSON-safe: stored on the complaint
    and exported as is)."""

    document: dict[str, Any] = {
        "format": EVIDENCE_FORMAT,
        "generated_at": _iso(now),
        "complaint": {
            **_complaint_item(complaint),
            "description": complaint.description,
            "message": str(complaint.message_id) if complaint.message_id else None,
            "template": str(complaint.template) if complaint.template_id else None,
        },
        "contact": None,
        "consent_ledger": [],
        "messages": [],
        "earlier_complaints": [],
        "signals": [],
        "template": _template_part(complaint, now),
    }
    contact = complaint.contact
    if contact is None:
        return document
    events = contact_history_with_evidence(contact=contact)
    states = contact_states(contact)
    document["contact"] = {
        "contact": contact.public_id,
        "phone": contact.masked_phone,
        "blocked": contact.blocked,
        "erased": contact.erased,
        "undeliverable": contact.undeliverable,
        "last_inbound_at": _iso(contact.last_inbound_at),
        "consent_now": {p: s.status for p, s in states.items()},
    }
    document["consent_ledger"] = [_ledger_item(e) for e in events]
    messages = messages_with_events(contact=contact, since=complaint.created_at - MESSAGE_LOOKBACK)
    document["messages"] = [_message_item(m, events) for m in messages]
    earlier = (
        Complaint.objects.filter(Q(contact=contact) | (Q(phone_digest=contact.phone_digest) if contact.phone_digest
                                                        else Q(pk__in=[])))
        .filter(created_at__lte=complaint.created_at)
        .exclude(pk=complaint.pk)
        .only("reference", "status", "channel", "category", "created_at", "outcome")  # not their evidence
        .order_by("created_at", "id")
    )
    document["earlier_complaints"] = [_complaint_item(c) for c in earlier]
    signals = ComplaintSignal.objects.filter(
        contact=contact, occurred_at__gte=complaint.created_at - MESSAGE_LOOKBACK
    ).select_related("template")
    document["signals"] = [
        {"kind": s.kind, "template": str(s.template) if s.template else None, "occurred_at": _iso(s.occurred_at),
         "message": str(s.message_id) if s.message_id else None}
        for s in signals.order_by("occurred_at", "id")
    ]
    return document
