"""verify_consent_ledger: recompute the log from the events and check it against everything.

One pass over the events in log order (streamed: memory stays flat however long the ledger)
recomputes every leaf and the Merkle tree, and checks, naming the first problem in log order:
- positions: 1, 2, 3, ... with no gap (a row removed) and nothing out of place;
- the old hash chain of the events written before the log (prev_hash, hash);
- each event's evidence, while present, against the digest its leaf commits to;
- each leaf and stored tree node against the tiles the proofs are served from;
- the root at the size of every checkpoint, in the database and in LEDGER_CHECKPOINT_DIR,
  each first verified against the log's public key and origin (a checkpoint signed by another
  key, or altered, is refused). Whoever rewrites events and recomputes every hash and node the
  database holds still fails here against any earlier checkpoint kept outside it;
- then the stored head, and a consistency proof from the stored tiles between the oldest and
  the newest checkpoints (what an auditor holding an old checkpoint is given).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consent.ledger import (
    CHAINED_FIELDS,
    GENESIS_HASH,
    LEAF_COLUMNS,
    chain_preimage,
    evidence_digest,
    leaf_bytes_v2,
    sha256_hex,
)
from consent.merkle import HASH_SIZE, Frontier, leaf_hash, verify_consistency
from consent.note import Checkpoint, NoteError
from consent.tiles import TILE_HEIGHT, TILE_WIDTH

_SEQ = 0  # a verification row is (sequence, *LEAF_COLUMNS, evidence data)
_COL = {name: i + 1 for i, name in enumerate(LEAF_COLUMNS)}
_EVIDENCE = len(LEAF_COLUMNS) + 1
_CHAIN_AT = [_COL[name] for name in CHAINED_FIELDS]


@dataclass(frozen=True)
class Claim:
    """A signed checkpoint found somewhere (a database row, a file), or why it is refused."""

    tree_size: int
    source: str
    checkpoint: Checkpoint | None = None
    refused: str = ""


@dataclass(frozen=True)
class VerificationResult:
    ok: bool
    events_checked: int
    checkpoints_checked: int = 0
    tree_size: int | None = None
    root_hash: str = ""
    first_bad_sequence: int | None = None
    first_bad_event: str = ""
    problem: str = ""


class _Broken(Exception):
    def __init__(self, sequence: int | None, event: str, problem: str) -> None:
        super().__init__(problem)
        self.sequence, self.event, self.problem = sequence, event, problem


class StoredTree:
    """What the database holds of the tree; the verifier compares it, never trusts it."""

    def level0_tiles(self) -> Iterator[tuple[int, bytes]]:
        raise NotImplementedError

    def tile(self, level: int, index: int) -> bytes | None:
        raise NotImplementedError

    def head(self) -> tuple[int, bytes] | None:
        raise NotImplementedError

    def consistency(self, first: int, second: int) -> list[bytes]:
        raise NotImplementedError


def claims_from(notes: Iterable[tuple[int, str, str]], open_note: Any) -> Iterator[Claim]:
    """Claims from (tree size as stored, source, note text), each note verified by `open_note`."""
    for stored_size, source, note in notes:
        try:
            checkpoint = open_note(note)
        except NoteError as exc:
            yield Claim(stored_size, source, refused=f"{source} is refused: {exc}")
            continue
        if stored_size >= 0 and checkpoint.tree_size != stored_size:
            refused = f"{source} is filed as {stored_size} events but signs {checkpoint.tree_size}"
            yield Claim(stored_size, source, refused=refused)
            continue
        yield Claim(checkpoint.tree_size, source, checkpoint)


def merged(*streams: Iterable[Claim]) -> Iterator[Claim]:
    return heapq.merge(*streams, key=lambda claim: claim.tree_size)


def _event_id(row: Sequence[Any]) -> str:
    return f"ev_{row[_COL['uid']].hex}"


def verify_log(rows: Iterable[Sequence[Any]], claims: Iterable[Claim], stored: StoredTree) -> VerificationResult:
    """Check the stream of rows (sequence order) against the claims (tree-size order)."""
    frontier = Frontier()
    claims = iter(claims)
    pending = next(claims, None)
    state: dict[str, Any] = {"checked": 0, "claims": 0, "matched": 0, "first": None, "last": None}
    tiles0 = iter(stored.level0_tiles())
    tile0: tuple[int, bytes] = (-1, b"")
    upper: dict[int, tuple[int, bytes | None]] = {}
    prev_chain = GENESIS_HASH
    chain_open = True

    def check_claims(size: int) -> None:
        nonlocal pending
        root = frontier.root()
        while pending is not None and pending.tree_size <= size:
            claim, pending = pending, next(claims, None)
            if claim.refused:
                raise _Broken(claim.tree_size or None, f"#{claim.tree_size}", claim.refused)
            assert claim.checkpoint is not None
            if claim.tree_size < size:  # only a size already passed: a checkpoint out of order
                raise _Broken(claim.tree_size, f"#{claim.tree_size}", f"{claim.source} is out of order")
            state["claims"] += 1
            if claim.checkpoint.root_hash != root:
                start = state["matched"] + 1
                raise _Broken(
                    start,
                    f"#{start}..#{size}",
                    f"the ledger's first {size} events do not match {claim.source}, signed by the ledger's key: "
                    f"an event among #{start}..#{size} was changed, removed or inserted after it was signed",
                )
            state["matched"] = size
            state["first"] = state["first"] or claim
            state["last"] = claim

    def stored_node(level: int, index: int) -> bytes | None:
        nonlocal tile0
        if level == 0:
            while tile0[0] < index >> TILE_HEIGHT:
                tile0 = next(tiles0, (1 << 62, b""))
            hashes = tile0[1] if tile0[0] == index >> TILE_HEIGHT else b""
        else:
            tile_level, key = level // TILE_HEIGHT, index >> TILE_HEIGHT
            if upper.get(tile_level, (-1, None))[0] != key:
                upper[tile_level] = (key, stored.tile(tile_level, key))
            hashes = upper[tile_level][1] or b""
        offset = (index & (TILE_WIDTH - 1)) * HASH_SIZE
        found = hashes[offset : offset + HASH_SIZE]
        return found if len(found) == HASH_SIZE else None

    try:
        check_claims(0)
        for row in rows:
            sequence = int(row[_SEQ])
            expected = frontier.size + 1
            event = _event_id(row)
            if sequence != expected:
                if sequence > expected:
                    gap = f"#{expected}" if sequence == expected + 1 else f"#{expected}..#{sequence - 1}"
                    raise _Broken(sequence, event, f"event {gap} is missing before event #{sequence} (row removed)")
                raise _Broken(sequence, event, f"event #{sequence} appears where #{expected} was expected (reordered)")
            if row[_COL["hash"]]:  # written before the log: its chain, and the chain is its leaf
                if not chain_open:
                    raise _Broken(sequence, event, f"event #{sequence} carries a chain hash after the chain ended (altered)")
                fields = dict(zip(CHAINED_FIELDS, (row[i] for i in _CHAIN_AT), strict=True))
                if fields["prev_hash"] != prev_chain:
                    raise _Broken(sequence, event,
                                  f"event #{sequence} does not chain to event #{sequence - 1} (reordered or replaced)")
                data = chain_preimage(fields)
                if sha256_hex(data) != row[_COL["hash"]]:
                    raise _Broken(sequence, event, f"event #{sequence} does not match its hash (altered)")
                prev_chain = row[_COL["hash"]]
            else:
                chain_open = False
                data = leaf_bytes_v2(row[1:])
            evidence = row[_EVIDENCE]
            if evidence is not None and evidence_digest(evidence) != row[_COL["evidence_sha256"]]:
                raise _Broken(sequence, event, f"the evidence of event #{sequence} does not match its digest (altered)")
            leaf = leaf_hash(data)
            for level, index, node in frontier.append(leaf):
                if level % TILE_HEIGHT:
                    continue
                if stored_node(level, index) != node:
                    if level == 0:
                        raise _Broken(sequence, event, f"event #{sequence} does not match the leaf the log recorded "
                                      "when it was sequenced (altered)")
                    first = (index << level) + 1
                    raise _Broken(first, f"#{first}", f"the stored tree node over events #{first}..#{(index + 1) << level} "
                                  "does not match the events (tree rewritten)")
            state["checked"] += 1
            check_claims(frontier.size)
        size = frontier.size
        if pending is not None:
            claim = pending
            raise _Broken(size + 1, f"#{size + 1}", claim.refused or (
                f"{claim.source} covers {claim.tree_size} events, but the ledger has {size} (rows removed at the end)"))
        head = stored.head()
        if head is not None and (head[0] != size or head[1] != frontier.packed()):
            raise _Broken(size, f"#{size}", f"the stored tree head ({head[0]} events) does not match the events")
        first, last = state["first"], state["last"]
        if first is not None and last is not None and first.tree_size < last.tree_size:
            proof = stored.consistency(first.tree_size, last.tree_size)
            assert first.checkpoint is not None and last.checkpoint is not None
            if not verify_consistency(first.tree_size, last.tree_size, first.checkpoint.root_hash,
                                      last.checkpoint.root_hash, proof):
                raise _Broken(first.tree_size, f"#{first.tree_size}", "the stored tree gives no valid consistency proof "
                              f"from {first.source} to {last.source}")
    except _Broken as broken:
        return VerificationResult(
            ok=False,
            events_checked=state["checked"],
            checkpoints_checked=state["claims"],
            first_bad_sequence=broken.sequence,
            first_bad_event=broken.event,
            problem=broken.problem,
        )
    return VerificationResult(
        ok=True,
        events_checked=state["checked"],
        checkpoints_checked=state["claims"],
        tree_size=frontier.size,
        root_hash=frontier.root().hex(),
    )


def file_notes(paths: Iterable[tuple[int, Path]]) -> Iterator[tuple[int, str, str]]:
    for size, path in paths:
        source = f"checkpoint file {path}"
        try:
            yield size, source, path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            yield size, source, f"unreadable: {exc}"
