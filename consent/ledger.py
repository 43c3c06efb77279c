"""The consent ledger's canonical encodings: the bytes each event commits to, as a log leaf, and
the old hash chain that the log started from.

An event's leaf is SHA-256(0x00 || leaf bytes) in the Merkle tree of consent.log. The leaf
bytes are the canonical JSON (sorted keys, no spaces, UTF-8, times in UTC with microseconds) of
its fields. Personal evidence is committed by its digest only (`evidence_sha256`), so erasing
the evidence content leaves every leaf, and so every proof, intact.

- Events written since the log exists (`LEAF_VERSION` 2): the fields in LEAF_FIELDS, the event
  and contact by their public ids ("ev_…", "c_…"), never a phone number.
- Events written before it (the hash chain, version 1) keep their chain: `hash` is SHA-256 of
  the canonical JSON of CHAINED_FIELDS (`prev_hash` included), and that same JSON is their leaf,
  so the log commits to the chain too and the chain stays verifiable for the events it covers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
HASH_VERSION = 1  # the hash chain's encoding (events before the log); never changes now
LEAF_VERSION = 2  # bump (and keep the old encoder) if the leaf fields ever change

# The columns of ConsentEvent that the old hash chain covers, in the order verification reads them.
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

# The ORM paths of what a version-2 leaf covers, in the order `leaf_bytes_v2` reads them.
LEAF_FIELDS = (
    "uid",
    "batch",
    "contact__uid",
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
)
# Everything needed to encode either version's leaf: a legacy event is one with a `hash`.
LEAF_COLUMNS = tuple(dict.fromkeys((*LEAF_FIELDS, *CHAINED_FIELDS, "hash")))
_AT = {name: LEAF_COLUMNS.index(name) for name in LEAF_COLUMNS}


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def evidence_digest(evidence: Mapping[str, Any] | None) -> str:
    """The digest an event commits to for its evidence ("" when there is none)."""
    if not evidence:
        return ""
    return sha256_hex(canonical_json(evidence))


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def chain_preimage(fields: Mapping[str, Any]) -> bytes:
    """The canonical JSON the old hash chain hashes (and the leaf of a pre-log event)."""
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
    return canonical_json(body)


def event_hash(fields: Mapping[str, Any]) -> str:
    """The old chain hash of an event given its CHAINED_FIELDS (datetimes, UUIDs or strings)."""
    return sha256_hex(chain_preimage(fields))


def leaf_bytes_v2(row: Sequence[Any]) -> bytes:
    """The leaf of an event written since the log exists, from a row of LEAF_COLUMNS."""
    a = _AT
    return canonical_json(
        {
            "v": LEAF_VERSION,
            "event": f"ev_{row[a['uid']].hex}",
            "batch": str(row[a["batch"]]),
            "contact": f"c_{row[a['contact__uid']].hex}",
            "purpose": row[a["purpose"]],
            "action": row[a["action"]],
            "source": row[a["source"]],
            "notice_version": row[a["notice_version"]],
            "notice_sha256": row[a["notice_sha256"]],
            "evidence_sha256": row[a["evidence_sha256"]],
            "actor_type": row[a["actor_type"]],
            "actor_id": row[a["actor_id"]],
            "actor_label": row[a["actor_label"]],
            "occurred_at": _timestamp(row[a["occurred_at"]]),
            "recorded_at": _timestamp(row[a["recorded_at"]]),
        }
    )


def is_chained(row: Sequence[Any]) -> bool:
    return bool(row[_AT["hash"]])


def chained_fields(row: Sequence[Any]) -> dict[str, Any]:
    return {name: row[_AT[name]] for name in CHAINED_FIELDS}


def leaf_bytes(row: Sequence[Any]) -> bytes:
    """The leaf bytes of any event, from a row of LEAF_COLUMNS."""
    if is_chained(row):
        return chain_preimage(chained_fields(row))
    return leaf_bytes_v2(row)


def event_leaf_row(event: Any) -> tuple[Any, ...]:
    """A ConsentEvent as a row of LEAF_COLUMNS (its contact's uid read through the relation)."""
    values = {name: getattr(event, name) for name in LEAF_COLUMNS if name != "contact__uid"}
    values["contact__uid"] = event.contact.uid
    return tuple(values[name] for name in LEAF_COLUMNS)
