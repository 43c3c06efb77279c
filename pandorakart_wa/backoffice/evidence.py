"""The customer evidence pack: for one contact, everything that proves how PandoraKart treated
their consent — the notices they were shown, every ledger event with its evidence and its
inclusion proof against the ledger's latest signed checkpoint (which the pack carries, with the
verifier key, so anyone can check it without us), every message with the consent in force when
it left, and their complaints.

One dict of plain values (datetimes stay datetimes; DjangoJSONEncoder writes them as ISO 8601)
serves both the printable page and the JSON download.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from consent.evidence_checks import ledger_events_verify
from consent.managers import artefact_of_event, consent_artefacts_for_contact
from consent.models import ConsentEvent, Contact, Status
from consent.purposes import Purpose
from consent.selectors import (
    consent_in_force,
    contact_ledger,
    contact_states,
    ledger_last_verification,
    notices_by_versions,
)
from messaging.models import Message, MessageKind, MessageStatus
from messaging.selectors import messages_with_events
from pandorakart_wa.backoffice import complaints_panel
from pandorakart_wa.core.phones import mask_phone

PACK_VERSION = 2  # 2: inclusion proofs against a signed checkpoint (the hash chain only before the log)
ERASED = "erased"
WENT_OUT = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


def phone_shown(contact: Contact, *, full: bool, typed_e164: str | None = None) -> str:
    """The number as this viewer may see it: full with consent.reveal_phone, else masked. An
    erased contact has no number left; the one staff typed is shown masked for reference."""
    number = contact.phone or typed_e164
    if not number:
        return ""
    return number if full and contact.phone else mask_phone(number)


def _notices(events: Sequence[ConsentEvent]) -> list[dict[str, Any]]:
    shown: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event.notice_version:
            shown[event.notice_version].add(event.notice_sha256)
    notices = notices_by_versions(versions=shown)
    result = []
    for version in sorted(shown):
        notice = notices.get(version)
        digests = sorted(d for d in shown[version] if d)
        result.append(
            {
                "version": version,
                "referenced_sha256": digests,
                "found": notice is not None,
                "language": notice.language if notice else "",
                "title": notice.title if notice else "",
                "published_at": notice.published_at if notice else None,
                "text_sha256": notice.text_sha256 if notice else "",
                "matches": notice is not None and all(d == notice.text_sha256 for d in digests),
                "text": notice.text if notice else "",
                "withdrawal_instructions": notice.withdrawal_instructions if notice else "",
                "complaint_instructions": notice.complaint_instructions if notice else "",
                "events": sum(1 for e in events if e.notice_version == version),
            }
        )
    return result


def _message_verdict(message: Message, in_force: str, known: str) -> tuple[str, str]:
    """(level, text): ok / late / warning / info for the pack's message table."""
    went_out = message.status in WENT_OUT or (message.status == MessageStatus.FAILED and message.sent_at)
    if message.status == MessageStatus.SUPPRESSED:
        return "ok", f"Refused at send time ({message.reason or 'policy'})"
    if message.status == MessageStatus.CANCELLED:
        return "info", f"Cancelled ({message.reason})" if message.reason else "Cancelled"
    if not went_out:
        return "info", "Not sent (yet)"
    if message.kind == MessageKind.CONFIRMATION:
        return "ok", "Confirmation of the customer's own request (no consent for a purpose needed)"
    if message.kind == MessageKind.NOTICE:
        return "ok", "Legal notice to a customer holding consent"
    if in_force == Status.OPTED_IN:
        return "ok", "Consent in force when it left"
    if known == Status.OPTED_IN:
        return "late", "Withdrawn before it left, but the withdrawal reached us only afterwards"
    return "warning", "Sent without consent in force for its purpose"


def _messages(contact: Contact, events: Sequence[ConsentEvent]) -> list[dict[str, Any]]:
    """Each message with the consent in force for its purpose when it left (or when the gate
    last looked at it), by complaints.evidence's rule, so a complaint's evidence and the pack
    agree: `consent_in_force` replays what had occurred by then, `known_at_send` only what had
    been recorded (what the send gate could see)."""
    sequences = {event.public_id: event.sequence for event in events}
    result = []
    for read in messages_with_events(contact=contact):
        m, timeline = read.message, read.events
        moment = m.sent_at or m.claimed_at or m.created_at
        in_force = consent_in_force(events, m.purpose, moment)
        known = consent_in_force(events, m.purpose, moment, known_only=True)
        if contact.erased_at is not None and contact.erased_at <= moment:
            in_force = {**in_force, "status": ERASED}
        level, verdict = _message_verdict(m, in_force["status"], known["status"])
        result.append(
            {
                "id": str(m.id),
                "template": f"{m.template.name} ({m.template.language})" if m.template else "",
                "template_revision": m.revision.number if m.revision else None,
                "free_text": not m.template,
                "purpose": m.purpose,
                "kind": m.kind,
                "campaign": m.campaign.name if m.campaign else "",
                "status": m.status,
                "reason": m.reason,
                "error_code": m.error_code,
                "error_title": m.error_title,
                "created_at": m.created_at,
                "sent_at": m.sent_at,
                "checked_at": moment,
                "consent_in_force": {**in_force, "event_sequence": sequences.get(in_force["event"] or "")},
                "known_at_send": {**known, "event_sequence": sequences.get(known["event"] or "")},
                "verdict": verdict,
                "verdict_level": level,
                "timeline": [{"status": e.status, "at": e.at, "source": e.source} for e in timeline],
            }
        )
    return result


def _manager_ref(event: ConsentEvent) -> dict[str, str] | None:
    """The consent manager and artefact of an event a manager wrote (both in its leaf)."""
    ref = artefact_of_event(event)
    return {"registration_id": ref[0], "artefact_id": ref[1]} if ref else None


def _artefacts(contact: Contact) -> list[dict[str, Any]]:
    """Each grant and withdrawal a registered consent manager made for the customer, with the
    ledger events it wrote (DPDP s.6(7)-(9))."""
    return [
        {
            "consent_manager": row.manager.registration_id,
            "consent_manager_name": row.manager.name,
            "artefact_id": row.artefact_id,
            "action": row.action,
            "purposes": row.purposes,
            "notice_version": row.notice_version,
            "occurred_at": row.occurred_at,
            "recorded_at": row.recorded_at,
            "events": list(row.receipt),
        }
        for row in consent_artefacts_for_contact(contact)
    ]


def evidence_pack(contact: Contact, *, full_phone: bool, typed_e164: str | None = None) -> dict[str, Any]:
    """Everything that proves how the contact's consent was collected, kept and respected."""
    events = contact_ledger(contact=contact)
    checkpoint, checks = ledger_events_verify(events)
    states = contact_states(contact)
    run = ledger_last_verification()
    event_rows: list[dict[str, Any]] = []
    for event in events:
        evidence = getattr(event, "evidence", None)
        if not event.evidence_sha256:
            evidence_state, data = "none", None
        elif evidence is None or evidence.data is None:
            evidence_state, data = ERASED, None
        else:
            evidence_state, data = "present", evidence.data
        event_rows.append(
            {
                "event_id": event.public_id,
                "sequence": event.sequence,
                "batch": str(event.batch),
                "purpose": event.purpose,
                "action": event.action,
                "source": event.source,
                "notice_version": event.notice_version,
                "notice_sha256": event.notice_sha256,
                "actor_type": event.actor_type,
                "actor": event.actor_label,
                "consent_manager": _manager_ref(event),
                "occurred_at": event.occurred_at,
                "recorded_at": event.recorded_at,
                "prev_hash": event.prev_hash,
                "hash": event.hash,
                "evidence_sha256": event.evidence_sha256,
                "evidence_state": evidence_state,
                "evidence": data,
                "checks": checks[event.pk],
            }
        )
    messages = _messages(contact, events)
    artefact_rows = _artefacts(contact)
    complaints = complaints_panel.complaints_for_contact(contact)
    return {
        "pack_version": PACK_VERSION,
        "generated_at": timezone.now(),
        "contact": {
            "id": contact.public_id,
            "phone": phone_shown(contact, full=full_phone, typed_e164=typed_e164),
            "phone_is_masked": not (full_phone and contact.phone),
            "phone_digest": contact.phone_digest or "",
            "blocked": contact.blocked,
            "blocked_at": contact.blocked_at,
            "erased": contact.erased,
            "erased_at": contact.erased_at,
            "undeliverable": contact.undeliverable,
            "created_at": contact.created_at,
        },
        "current_consent": [
            {
                "purpose": p.value,
                "label": str(p.label),
                "status": state.status if (state := states.get(p.value)) else Status.NONE,
                "since": state.since if state else None,
                "source": state.source if state else "",
                "notice_version": state.notice_version if state else "",
            }
            for p in Purpose
        ],
        "ledger_checkpoint": checkpoint,
        "ledger_verification": {
            "last_run_at": run.finished_at if run else None,
            "ok": run.ok if run else None,
            "head_sequence": run.head_sequence if run else None,
            "problem": run.problem if run else "",
        },
        "notices": _notices(events),
        "consent_manager_artefacts": artefact_rows,
        "consent_events": event_rows,
        "messages": messages,
        "complaints": complaints,
        "summary": {
            "events": len(event_rows),
            "events_intact": sum(1 for e in event_rows if e["checks"]["intact"]),
            "messages": len(messages),
            "messages_flagged": sum(1 for m in messages if m["verdict_level"] == "warning"),
            "complaints": len(complaints) if complaints is not None else None,
            "consent_manager_actions": len(artefact_rows),
        },
    }
