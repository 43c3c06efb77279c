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

from complaints.evidence import consent_in_force
from consent.ledger import CHAINED_FIELDS, GENESIS_HASH, event_hash, event_leaf_row, evidence_digest, leaf_bytes
from consent.log import TileReader, b64, inclusion_proofs, log_verifier, open_trusted, proof_document
from consent.managers import artefact_of_event, consent_artefacts_for_contact
from consent.merkle import leaf_hash, verify_inclusion
from consent.models import ConsentEvent, ConsentNotice, Contact, LedgerCheckpoint, Status
from consent.note import NoteError, public_bytes, verifier_key
from consent.purposes import Purpose
from consent.selectors import contact_states, ledger_last_verification
from messaging.models import Message, MessageKind, MessageStatus
from pandorakart_wa.dashboard import complaints_panel
from pandorakart_wa.phones import mask_phone

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


def _checkpoint_summary(checkpoint: LedgerCheckpoint | None) -> dict[str, Any] | None:
    """The checkpoint the pack's proofs are against, with its signature checked here and the
    verifier key anyone can check it with."""
    if checkpoint is None:
        return None
    verifier = log_verifier()
    try:
        opened = open_trusted(checkpoint.note)
        signature_ok = opened.root_hash == bytes(checkpoint.root_hash) and opened.tree_size == checkpoint.tree_size
    except NoteError:
        signature_ok = False
    return {
        "origin": checkpoint.origin,
        "tree_size": checkpoint.tree_size,
        "root_hash": b64(bytes(checkpoint.root_hash)),
        "timestamp": checkpoint.signed_at,
        "note": checkpoint.note,
        "signature_verified": signature_ok,
        "verifier_key": verifier_key(verifier.name, public_bytes(verifier.public_key)),
    }


def _event_checks(events: Sequence[ConsentEvent]) -> tuple[dict[str, Any] | None, dict[int, dict[str, Any]]]:
    """The latest checkpoint, and per event: its leaf as the log recorded it, its inclusion
    proof against that checkpoint (verified here), its evidence against the digest, whether a
    full verification covered it, and, for events before the log, its place in the old hash
    chain. A few queries for the whole customer, whatever the count."""
    reader = TileReader()
    sequenced = [e for e in events if e.sequence is not None]
    reader.prefetch({(0, e.sequence - 1) for e in sequenced})  # type: ignore[operator]
    checkpoint, proofs = inclusion_proofs(sequenced, reader=reader)
    summary = _checkpoint_summary(checkpoint)
    root = bytes(checkpoint.root_hash) if checkpoint is not None and summary and summary["signature_verified"] else None
    chained = [e.sequence for e in events if e.hash and e.sequence is not None]
    previous = dict(
        ConsentEvent.objects.filter(sequence__in=[s - 1 for s in chained]).values_list("sequence", "hash")
    ) if chained else {}
    following = dict(
        ConsentEvent.objects.filter(sequence__in=[s + 1 for s in chained]).values_list("sequence", "prev_hash")
    ) if chained else {}
    run = ledger_last_verification()
    checks: dict[int, dict[str, Any]] = {}
    for event in events:
        evidence = getattr(event, "evidence", None)
        data = evidence.data if evidence is not None else None
        evidence_ok = None if data is None else evidence_digest(data) == event.evidence_sha256
        leaf = leaf_hash(leaf_bytes(event_leaf_row(event)))
        leaf_ok: bool | None = None
        if event.sequence is not None:
            try:
                leaf_ok = reader.node(0, event.sequence - 1) == leaf
            except LookupError:
                leaf_ok = False
        proof = proofs.get(event.pk)
        included = None if proof is None else (
            root is not None and verify_inclusion(proof.leaf_index, proof.tree_size, leaf, proof.path, root)
        )
        hash_ok = links_back = links_forward = None
        if event.hash:  # written before the log: the old hash chain too
            hash_ok = event_hash({name: getattr(event, name) for name in CHAINED_FIELDS}) == event.hash
            expected_prev = GENESIS_HASH if event.sequence == 1 else previous.get((event.sequence or 0) - 1)
            links_back = expected_prev is not None and event.prev_hash == expected_prev
            next_prev = following.get((event.sequence or 0) + 1)
            links_forward = None if not next_prev else next_prev == event.hash  # "": the log began
        if event.sequence is None:
            verified = "not in the log yet"
        elif run is None:
            verified = "never verified"
        elif run.ok:
            verified = "covered" if (run.head_sequence or 0) >= event.sequence else "after the last run"
        else:
            bad = run.first_bad_sequence
            verified = "covered" if bad is not None and event.sequence < bad else "ledger broken before it"
        intact = all(c is not False for c in (evidence_ok, leaf_ok, included, hash_ok, links_back, links_forward))
        checks[event.pk] = {
            "leaf_index": event.leaf_index,
            "leaf_hash": b64(leaf),
            "leaf_matches_log": leaf_ok,
            "in_checkpoint": proof is not None,
            "inclusion_verified": included,
            "inclusion_proof": None if proof is None else proof_document(event, proof),
            "hash_matches": hash_ok,
            "links_to_previous": links_back,
            "next_links_to_it": links_forward,
            "evidence_matches": evidence_ok,
            "full_verification": verified,
            "verified": intact and bool(included) and verified == "covered",
            "intact": intact,
        }
    return summary, checks


def _notices(events: Sequence[ConsentEvent]) -> list[dict[str, Any]]:
    shown: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event.notice_version:
            shown[event.notice_version].add(event.notice_sha256)
    notices = {n.version: n for n in ConsentNotice.objects.filter(version__in=list(shown))}
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
    messages = (
        Message.objects.filter(contact=contact)
        .select_related("template", "campaign", "revision")
        .prefetch_related("events")
        .order_by("created_at")
    )
    result = []
    for m in messages:
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
                "timeline": [{"status": e.status, "at": e.at, "source": e.source} for e in m.events.all()],
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
    events = list(
        ConsentEvent.objects.filter(contact=contact).select_related("evidence", "contact").order_by("id")
    )
    checkpoint, checks = _event_checks(events)
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
