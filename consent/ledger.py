"""The consent ledger's hash chain: canonical encoding, hashing and verification.

Each event's hash is SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of its
chained fields, `prev_hash` included. Personal evidence is chained by its digest only
(`evidence_sha256`), so erasing the evidence content leaves every hash intact.

Verification streams the events in sequence order and reports the first one that does not fit:
a gap in the sequence (a row removed), a prev_hash that is not the previous event's hash (rows
reordered or replaced), a hash that does not match the content (a row altered), evidence that
no longer matches its digest, or a ledger shorter than at the last verification (rows removed
at the end).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
HASH_VERSION = 1  # bump (and keep the old encoder) if the chained fields ever change

# The columns of ConsentEvent that the hash covers, in the order verification reads them.
CHAINED_FIELDS = (
    "sequence",
    "uid",
    "batch",
    "contact_id",
    "purpose",
    "action",
    "source",
    "notice_version",
    "notice_sha256",
    "evidence_sha256",
    "actor_type",
    "actor_id",
    "actor_label",
    "occurred_at",
    "recorded_at",
    "prev_hash",
)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def evidence_digest(evidence: Mapping[str, Any] | None) -> str:
    """The digest chained for an event's evidence ("" when there is none)."""
    if not evidence:
        return ""
    return sha256_hex(canonical_json(evidence))


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(fields: Mapping[str, Any]) -> str:
    """The hash of an event given its CHAINED_FIELDS (datetimes, UUIDs or strings)."""
    body: dict[str, Any] = {"v": HASH_VERSION}
    for name in CHAINED_FIELDS:
        value = fields[name]
        if isinstance(value, datetime):
            value = _timestamp(value)
        elif name in ("uid", "batch"):
            value = str(value)
        elif name in ("sequence", "contact_id"):
            value = int(value)
        body[name] = value
    return sha256_hex(canonical_json(body))


@dataclass(frozen=True)
class VerificationResult:
    ok: bool
    events_checked: int
    head_sequence: int | None = None
    head_hash: str = ""
    first_bad_sequence: int | None = None
    first_bad_event: str = ""
    problem: str = ""


@dataclass(frozen=True)
class Checkpoint:
    """The head of the ledger at an earlier intact verification."""

    sequence: int
    hash: str


def verify_chain(rows: Iterable[tuple[Any, ...]], *, checkpoint: Checkpoint | None = None) -> VerificationResult:
    """Check a stream of rows: CHAINED_FIELDS + ("hash", "evidence_data"), in sequence order.

    Memory stays constant: only the previous event's sequence and hash are kept.
    """
    expected_sequence = 1
    prev_hash = GENESIS_HASH
    checked = 0
    checkpoint_seen = checkpoint is None
    n = len(CHAINED_FIELDS)

    def bad(sequence: int, uid: Any, problem: str) -> VerificationResult:
        return VerificationResult(
            ok=False,
            events_checked=checked,
            first_bad_sequence=sequence,
            first_bad_event=f"ev_{getattr(uid, 'hex', uid)}",
            problem=problem,
        )

    for row in rows:
        fields = dict(zip(CHAINED_FIELDS, row[:n], strict=True))
        stored_hash, evidence_data = row[n], row[n + 1]
        sequence = int(fields["sequence"])
        uid = fields["uid"]
        if sequence != expected_sequence:
            if sequence > expected_sequence:
                missing = (
                    f"#{expected_sequence}"
                    if sequence == expected_sequence + 1
                    else f"#{expected_sequence}..#{sequence - 1}"
                )
                return bad(sequence, uid, f"event {missing} is missing before event #{sequence} (row removed)")
            return bad(sequence, uid, f"event #{sequence} appears where #{expected_sequence} was expected (reordered)")
        if fields["prev_hash"] != prev_hash:
            return bad(sequence, uid, f"event #{sequence} does not chain to event #{sequence - 1} (reordered or replaced)")
        if event_hash(fields) != stored_hash:
            return bad(sequence, uid, f"event #{sequence} does not match its hash (altered)")
        if evidence_data is not None and evidence_digest(evidence_data) != fields["evidence_sha256"]:
            return bad(sequence, uid, f"the evidence of event #{sequence} does not match its digest (altered)")
        if checkpoint is not None and sequence == checkpoint.sequence:
            if stored_hash != checkpoint.hash:
                return bad(sequence, uid, f"event #{sequence} differs from the last verification's head (rewritten)")
            checkpoint_seen = True
        checked += 1
        prev_hash = stored_hash
        expected_sequence = sequence + 1

    head_sequence = expected_sequence - 1 if checked else None
    if not checkpoint_seen and checkpoint is not None:
        return VerificationResult(
            ok=False,
            events_checked=checked,
            head_sequence=head_sequence,
            head_hash=prev_hash if checked else "",
            first_bad_sequence=expected_sequence,
            first_bad_event=f"#{expected_sequence}",
            problem=(
                f"the ledger ends at event #{head_sequence or 0}, but the last verification saw it up to "
                f"#{checkpoint.sequence} (rows removed at the end)"
            ),
        )
    return VerificationResult(
        ok=True, events_checked=checked, head_sequence=head_sequence, head_hash=prev_hash if checked else ""
    )
