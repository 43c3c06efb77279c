"""The ledger's checks of one customer's events, as an evidence pack shows them: each event's leaf
against the log, its inclusion proof against the latest signed checkpoint (verified here), its
evidence against its digest, its place in the pre-log hash chain, and whether a full verification
covered it. The back office asks; the ledger's internals stay in consent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consent.ledger import CHAINED_FIELDS, GENESIS_HASH, event_hash, event_leaf_row, evidence_digest, leaf_bytes
from consent.log import TileReader, b64, inclusion_proofs, log_verifier, open_trusted, proof_document
from consent.merkle import leaf_hash, verify_inclusion
from consent.models import ConsentEvent, LedgerCheckpoint
from consent.note import NoteError, public_bytes, verifier_key
from consent.selectors import ledger_last_verification


def ledger_checkpoint_summary(checkpoint: LedgerCheckpoint | None) -> dict[str, Any] | None:
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


def ledger_events_verify(events: Sequence[ConsentEvent]) -> tuple[dict[str, Any] | None, dict[int, dict[str, Any]]]:
    """The latest checkpoint, and per event: its leaf as the log recorded it, its inclusion
    proof against that checkpoint (verified here), its evidence against the digest, whether a
    full verification covered it, and, for events before the log, its place in the old hash
    chain. A few queries for the whole customer, whatever the count."""
    reader = TileReader()
    sequenced = [e for e in events if e.sequence is not None]
    reader.prefetch({(0, e.sequence - 1) for e in sequenced})  # type: ignore[operator]
    checkpoint, proofs = inclusion_proofs(sequenced, reader=reader)
    summary = ledger_checkpoint_summary(checkpoint)
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
