"""The consent ledger as a verifiable log (DESIGN.md, "The consent ledger"; API.md).

Writers insert events with no position and no lock but their contact's. The sequencer (one
run at a time: a PostgreSQL advisory lock; on SQLite the IMMEDIATE transaction's database-wide
write lock does the same) takes the oldest waiting events in batches, gives each the next
position, and extends the RFC 6962 Merkle tree from its stored frontier, O(log n) per leaf;
the perfect-subtree hashes go to tiles (consent.tiles), from which any inclusion or
consistency proof is read in O(log n). At most every LEDGER_CHECKPOINT_SECONDS, when the tree
grew, it signs a C2SP checkpoint with LEDGER_SIGNING_KEY (from the environment, never the
database), stores it and writes it to LEDGER_CHECKPOINT_DIR once the transaction committed.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from consent.ledger import LEAF_COLUMNS, event_leaf_row, leaf_bytes
from consent.log_verify import Claim, StoredTree, VerificationResult, claims_from, file_notes, merged, verify_log
from consent.merkle import (
    Frontier,
    consistency_path,
    inclusion_path,
    leaf_hash,
    needed_nodes,
)
from consent.models import ConsentEvent, LedgerCheckpoint, LedgerHead, LedgerTile
from consent.note import Checkpoint, NoteError, Verifier, open_checkpoint, sign, signing_key_from_seed
from consent.tiles import TileKey, TileWriter, node_from_tile, node_location, partial_tiles, tiles_for

logger = logging.getLogger(__name__)

# Any 64-bit constant that no other code uses as an advisory-lock key ("sequence" in ASCII).
SEQUENCER_LOCK_KEY = 0x73657175656E6365
SEQUENCE_BATCH = 2000  # events per transaction: short transactions, a few ms of hashing each
RUN_TIME_BUDGET = 5.0  # seconds a run keeps integrating a backlog before it signs and yields
CHECKPOINT_SHARD = 100_000  # checkpoint files per directory are bounded by tree-size ranges


# --- Keys ---------------------------------------------------------------------------------


@cache
def _signing_key(seed: str) -> Ed25519PrivateKey:
    return signing_key_from_seed(seed)


def signing_key() -> Ed25519PrivateKey:
    """LEDGER_SIGNING_KEY, parsed once per process (settings validated it at start-up)."""
    return _signing_key(settings.LEDGER_SIGNING_KEY)


def log_verifier() -> Verifier:
    """The verifier of the current signing key (what `ledger_public_key` prints)."""
    return Verifier.for_key(settings.LEDGER_LOG_ORIGIN, signing_key())


def trusted_verifiers() -> list[Verifier]:
    """The current key and the earlier ones (LEDGER_VERIFIER_KEYS), for old checkpoints."""
    return [log_verifier(), *(Verifier.parse(v) for v in settings.LEDGER_VERIFIER_KEYS)]


def open_trusted(note: str) -> Checkpoint:
    """A checkpoint note verified against the trusted keys and the log's origin."""
    problems = []
    for verifier in trusted_verifiers():
        try:
            return open_checkpoint(note, verifier, origin=settings.LEDGER_LOG_ORIGIN)
        except NoteError as exc:
            problems.append(str(exc))
    raise NoteError("; ".join(problems))


# --- Reading the stored tree --------------------------------------------------------------


class TileReader:
    """Perfect nodes read from stored tiles, fetched in one query per `prefetch`."""

    def __init__(self) -> None:
        self.tiles: dict[TileKey, bytes] = {}

    def prefetch(self, nodes: set[tuple[int, int]]) -> None:
        wanted = tiles_for(nodes) - self.tiles.keys()
        if not wanted:
            return
        query = Q()
        for level, index in wanted:
            query |= Q(level=level, index=index)
        for level, index, hashes in LedgerTile.objects.filter(query).values_list("level", "index", "hashes"):
            self.tiles[(level, index)] = bytes(hashes)

    def node(self, level: int, index: int) -> bytes:
        key, offset, count = node_location(level, index)
        if key not in self.tiles:
            self.prefetch({(level, index)})
        return node_from_tile(self.tiles.get(key, b""), offset, count)


def ledger_head() -> tuple[int, Frontier]:
    head = LedgerHead.objects.filter(pk=1).values_list("size", "frontier").first()
    if head is None:
        return 0, Frontier()
    return head[0], Frontier.unpack(head[0], bytes(head[1]))


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    leaf_data: bytes
    path: list[bytes]
    checkpoint: LedgerCheckpoint


def _checkpoint_for(tree_size: int | None) -> LedgerCheckpoint | None:
    checkpoints = LedgerCheckpoint.objects.order_by("-tree_size")
    if tree_size is not None:
        checkpoints = checkpoints.filter(tree_size=tree_size)
    return checkpoints.first()


def ledger_checkpoint(tree_size: int | None = None) -> LedgerCheckpoint | None:
    """The latest signed checkpoint (or the one of that size)."""
    return _checkpoint_for(tree_size)


class NotInCheckpoint(LookupError):
    """The event has no position yet, or a later one than the checkpoint asked for."""

    def __init__(self, message: str, *, retry_after: int | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def seconds_until_next_checkpoint(now: datetime | None = None) -> int:
    """A fair Retry-After for an event waiting for its checkpoint."""
    now = now or timezone.now()
    latest = LedgerCheckpoint.objects.order_by("-tree_size").values_list("signed_at", flat=True).first()
    interval: int = settings.LEDGER_CHECKPOINT_SECONDS
    if latest is None:
        return max(1, interval)
    due = latest + timedelta(seconds=interval) - now
    return max(1, min(interval, int(due.total_seconds() + 1.999)))


def inclusion_proofs(
    events: Sequence[ConsentEvent], *, tree_size: int | None = None, reader: TileReader | None = None
) -> tuple[LedgerCheckpoint | None, dict[int, InclusionProof]]:
    """Inclusion proofs of the events (by event pk) against the checkpoint of `tree_size`
    (default: the latest), every tile fetched in one query. Events not in it are left out."""
    checkpoint = _checkpoint_for(tree_size)
    if checkpoint is None:
        return None, {}
    size = checkpoint.tree_size
    inside = {e.pk: e.sequence - 1 for e in events if e.sequence is not None and e.sequence <= size}
    reader = reader or TileReader()
    wanted: set[tuple[int, int]] = set()
    for index in inside.values():
        wanted |= needed_nodes(lambda g, i=index: inclusion_path(i, size, g))  # type: ignore[misc]
    reader.prefetch(wanted)
    proofs: dict[int, InclusionProof] = {}
    for event in events:
        if event.pk not in inside:
            continue
        index = inside[event.pk]
        data = leaf_bytes(event_leaf_row(event))
        proofs[event.pk] = InclusionProof(
            leaf_index=index,
            tree_size=size,
            leaf_hash=leaf_hash(data),
            leaf_data=data,
            path=inclusion_path(index, size, reader.node),
            checkpoint=checkpoint,
        )
    return checkpoint, proofs


def proof_document(event: ConsentEvent, proof: InclusionProof) -> dict[str, object]:
    """API.md's inclusion proof of an event, with what checking it needs besides the public key:
    the leaf's data and the signed checkpoint (scripts/verify_receipt.py reads exactly this)."""
    return {
        "event": event.public_id,
        "leaf_index": proof.leaf_index,
        "tree_size": proof.tree_size,
        "leaf_hash": b64(proof.leaf_hash),
        "inclusion_path": [b64(h) for h in proof.path],
        "leaf_data": proof.leaf_data.decode(),
        "root_hash": b64(bytes(proof.checkpoint.root_hash)),
        "checkpoint": proof.checkpoint.note,
    }


def inclusion_proof(event: ConsentEvent, *, tree_size: int | None = None) -> InclusionProof:
    """The RFC 9162 inclusion proof of one event. LookupError when the checkpoint does not
    exist; NotInCheckpoint when the event is not (yet) in it."""
    checkpoint, proofs = inclusion_proofs([event], tree_size=tree_size)
    if checkpoint is None:
        if tree_size is not None:
            raise LookupError(f"No checkpoint has tree size {tree_size}.")
        raise NotInCheckpoint("No checkpoint has been signed yet.", retry_after=seconds_until_next_checkpoint())
    if event.pk in proofs:
        return proofs[event.pk]
    if tree_size is not None and event.sequence is not None:
        raise LookupError(f"{event.public_id} is event #{event.sequence}, after the checkpoint of {tree_size} events.")
    raise NotInCheckpoint(
        f"{event.public_id} is not in a signed checkpoint yet (within {settings.LEDGER_CHECKPOINT_SECONDS} s).",
        retry_after=seconds_until_next_checkpoint(),
    )


def consistency_proof(first: int, second: int, *, reader: TileReader | None = None) -> list[bytes]:
    """The RFC 9162 proof that the tree of `first` events is a prefix of the tree of `second`."""
    size, _ = ledger_head()
    if not 0 <= first <= second <= size:
        raise LookupError(f"No consistency proof from {first} to {second} events (the tree has {size}).")
    reader = reader or TileReader()
    reader.prefetch(needed_nodes(lambda g: consistency_path(first, second, g)))
    return consistency_path(first, second, reader.node)


# --- The sequencer ------------------------------------------------------------------------


def _sequencer_lock() -> bool:
    """Take the sequencer's lock for this transaction; False if another run holds it."""
    if connection.vendor != "postgresql":
        return True  # SQLite: this IMMEDIATE transaction already holds the only write lock
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEQUENCER_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def _set_positions(positions: list[tuple[int, int]]) -> None:
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(ConsentEvent._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS e SET sequence = v.seq "  # noqa: S608 - our own table name
                "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, seq) WHERE e.id = v.id",
                [[pk for pk, _ in positions], [seq for _, seq in positions]],
            )
        return
    ConsentEvent.objects.bulk_update([ConsentEvent(pk=pk, sequence=seq) for pk, seq in positions], ["sequence"])


def _save_tiles(tiles: dict[TileKey, bytes]) -> None:
    if tiles:
        LedgerTile.objects.bulk_create(
            [LedgerTile(level=level, index=index, hashes=hashes) for (level, index), hashes in tiles.items()],
            update_conflicts=True,
            unique_fields=["level", "index"],
            update_fields=["hashes"],
        )


def existing_partial_tiles(size: int) -> dict[TileKey, bytes]:
    partial = partial_tiles(size)
    if not partial:
        return {}
    query = Q()
    for (level, index), _ in partial:
        query |= Q(level=level, index=index)
    return {(lv, ix): bytes(h) for lv, ix, h in LedgerTile.objects.filter(query).values_list("level", "index", "hashes")}


def append_leaves(frontier: Frontier, leaves: Iterator[bytes] | Sequence[bytes], writer: TileWriter) -> None:
    for leaf in leaves:
        for level, index, node in frontier.append(leaf):
            writer.add(level, index, node)


@dataclass
class Integration:
    before: int = 0
    after: int = 0
    locked: bool = True

    @property
    def added(self) -> int:
        return self.after - self.before


def ledger_integrate(*, limit: int = SEQUENCE_BATCH) -> Integration:
    """One batch: the oldest events without a position get the next ones, and the tree grows."""
    with transaction.atomic():
        if not _sequencer_lock():
            return Integration(locked=False)
        head, _ = LedgerHead.objects.get_or_create(pk=1)
        result = Integration(before=head.size, after=head.size)
        rows = list(
            ConsentEvent.objects.filter(sequence__isnull=True).order_by("id").values_list("id", *LEAF_COLUMNS)[:limit]
        )
        if not rows:
            return result
        frontier = Frontier.unpack(head.size, bytes(head.frontier))
        writer = TileWriter(existing_partial_tiles(head.size))
        append_leaves(frontier, (leaf_hash(leaf_bytes(row[1:])) for row in rows), writer)
        _set_positions([(row[0], head.size + i + 1) for i, row in enumerate(rows)])
        _save_tiles(writer.take())
        head.size, head.frontier = frontier.size, frontier.packed()
        head.save(update_fields=["size", "frontier", "updated_at"])
        result.after = frontier.size
        return result


def checkpoint_path(tree_size: int) -> Path:
    shard = f"{tree_size // CHECKPOINT_SHARD * CHECKPOINT_SHARD:012d}"
    return Path(settings.LEDGER_CHECKPOINT_DIR) / shard / f"{tree_size:012d}.checkpoint"


def write_checkpoint_file(tree_size: int, note: str) -> Path:
    """Write a checkpoint outside the database, once: never over an existing file (a
    different one there means two checkpoints of one size: reported, and kept)."""
    path = checkpoint_path(tree_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        if path.read_text(encoding="utf-8") != note:
            logger.error("Checkpoint file %s differs from the checkpoint of %s events just signed", path, tree_size)
        return path
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "x", encoding="utf-8") as handle:
        handle.write(note)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temporary, path)  # atomic, and refuses to replace a file that appeared meanwhile
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links (some object-store mounts)
        if not path.exists():
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def ledger_checkpoint_sign(*, now: datetime | None = None, force: bool = False) -> LedgerCheckpoint | None:
    """Sign the tree as it stands when it grew since the last checkpoint, at most every
    LEDGER_CHECKPOINT_SECONDS (unless `force`). The file is written after the commit."""
    now = now or timezone.now()
    with transaction.atomic():
        if not _sequencer_lock():
            return None
        size, frontier = ledger_head()
        last = LedgerCheckpoint.objects.order_by("-tree_size").first()
        if size == 0 or (last is not None and last.tree_size >= size):
            return None
        if not force and last is not None and now < last.signed_at + timedelta(seconds=settings.LEDGER_CHECKPOINT_SECONDS):
            return None
        body = Checkpoint(origin=settings.LEDGER_LOG_ORIGIN, tree_size=size, root_hash=frontier.root())
        note = sign(body.body(), name=settings.LEDGER_LOG_ORIGIN, key=signing_key())
        checkpoint = LedgerCheckpoint.objects.create(
            tree_size=size, root_hash=body.root_hash, origin=body.origin, note=note, signed_at=now
        )
        transaction.on_commit(lambda: write_checkpoint_file(size, note))
    return checkpoint


@dataclass
class SequencerRun:
    integrated: int = 0
    checkpoint: LedgerCheckpoint | None = None
    busy: bool = False  # another run held the lock
    waiting: bool = False  # events integrated that the next checkpoint will cover
    next_checkpoint_in: float | None = None
    first_since_checkpoint: bool = False


def ledger_sequence(
    *, time_budget: float = RUN_TIME_BUDGET, now: datetime | None = None, force_checkpoint: bool = False
) -> SequencerRun:
    """One sequencer run: integrate what waits (in batches, within the time budget), then sign
    a checkpoint when one is due (or now, with `force_checkpoint`, when the tree grew). Safe to
    call from anywhere at any time."""
    started = time.monotonic()
    run = SequencerRun()
    last_size = LedgerCheckpoint.objects.order_by("-tree_size").values_list("tree_size", flat=True).first() or 0
    while True:
        batch = ledger_integrate()
        if not batch.locked:
            run.busy = True
            return run
        if batch.added and not run.integrated:
            run.first_since_checkpoint = batch.before <= last_size
        run.integrated += batch.added
        if batch.added < SEQUENCE_BATCH or time.monotonic() - started > time_budget:
            break
    run.checkpoint = ledger_checkpoint_sign(now=now, force=force_checkpoint)
    latest = run.checkpoint or LedgerCheckpoint.objects.order_by("-tree_size").first()
    size, _ = ledger_head()
    if latest is not None and size > latest.tree_size:
        run.waiting = True
        due = latest.signed_at + timedelta(seconds=settings.LEDGER_CHECKPOINT_SECONDS) - (now or timezone.now())
        run.next_checkpoint_in = max(0.0, due.total_seconds())
    if latest is not None and run.checkpoint is None and not connection.in_atomic_block:
        ensure_checkpoint_file(latest)
    return run


def ensure_checkpoint_file(checkpoint: LedgerCheckpoint) -> None:
    """The latest checkpoint is outside the database too (a crash may have come between the
    commit and the file)."""
    if not checkpoint_path(checkpoint.tree_size).exists():
        try:
            write_checkpoint_file(checkpoint.tree_size, checkpoint.note)
        except OSError as exc:
            logger.error("Cannot write checkpoint %s to LEDGER_CHECKPOINT_DIR: %s", checkpoint.tree_size, exc)


def iter_checkpoint_files(directory: Path | None = None) -> Iterator[tuple[int, Path]]:
    """(tree size, path) of every checkpoint file, by tree size; one shard in memory at once."""
    root = Path(directory or settings.LEDGER_CHECKPOINT_DIR)
    if not root.is_dir():
        return
    for shard in sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit()):
        entries = []
        for path in shard.iterdir():
            stem, _, suffix = path.name.partition(".")
            if stem.isdigit() and suffix == "checkpoint":  # anything else is not ours (temporary files)
                entries.append((int(stem), path))
        yield from sorted(entries)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- Verification inputs from the database and the checkpoint directory ---------------------


class DatabaseTree(StoredTree):
    def level0_tiles(self) -> Iterator[tuple[int, bytes]]:
        rows = LedgerTile.objects.filter(level=0).order_by("index").values_list("index", "hashes")
        return ((index, bytes(hashes)) for index, hashes in rows.iterator(chunk_size=200))

    def tile(self, level: int, index: int) -> bytes | None:
        hashes = LedgerTile.objects.filter(level=level, index=index).values_list("hashes", flat=True).first()
        return bytes(hashes) if hashes is not None else None

    def head(self) -> tuple[int, bytes] | None:
        head = LedgerHead.objects.filter(pk=1).values_list("size", "frontier").first()
        return (head[0], bytes(head[1])) if head is not None else None

    def consistency(self, first: int, second: int) -> list[bytes]:
        reader = TileReader()
        reader.prefetch(needed_nodes(lambda g: consistency_path(first, second, g)))
        try:
            return consistency_path(first, second, reader.node)
        except LookupError:
            return []


def verification_rows(*, chunk_size: int = 5000) -> Iterator[tuple[object, ...]]:
    """Every sequenced event as (sequence, *LEAF_COLUMNS, evidence data), in log order,
    streamed (a server-side cursor on PostgreSQL)."""
    return (
        ConsentEvent.objects.filter(sequence__isnull=False)
        .order_by("sequence")
        .values_list("sequence", *LEAF_COLUMNS, "evidence__data")
        .iterator(chunk_size=chunk_size)
    )


def verification_claims() -> Iterator[Claim]:
    """Every checkpoint in the database and in LEDGER_CHECKPOINT_DIR, by tree size."""
    database = (
        (size, f"the checkpoint of {size} events in the database (signed at {at:%Y-%m-%d %H:%M:%S})", note)
        for size, at, note in LedgerCheckpoint.objects.order_by("tree_size")
        .values_list("tree_size", "signed_at", "note")
        .iterator(chunk_size=1000)
    )
    files = file_notes(iter_checkpoint_files())
    return merged(claims_from(database, open_trusted), claims_from(files, open_trusted))


def ledger_verify() -> VerificationResult:
    return verify_log(verification_rows(), verification_claims(), DatabaseTree())
