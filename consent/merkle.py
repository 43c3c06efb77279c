"""RFC 6962 / RFC 9162 Merkle tree hashing, the append frontier, and inclusion and consistency
proofs: pure functions over bytes, no Django (the auditor's script repeats the verifiers).

leaf hash = SHA-256(0x00 || leaf bytes), interior node = SHA-256(0x01 || left || right), the
empty tree hashes to SHA-256(""). The tree of n leaves splits at the largest power of two
below n (RFC 9162 section 2.1.1), so every node that is the root of a *perfect* subtree (2^level
leaves starting at a multiple of 2^level) never changes once it exists: those are the nodes a
log stores. Proofs are computed from them through a `NodeGetter(level, index) -> hash`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeGetter = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """The roots of the perfect subtrees along the tree's right edge (one per set bit of the
    size, largest first): all that appending a leaf or computing the root needs, O(log n).

    `append` yields every perfect node it completes as (level, index, hash), the leaf first,
    so a caller can store the ones it keeps.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError(f"a frontier of size {size} has {bin(size).count('1')} hashes, not {len(hashes)}")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> Iterator[tuple[int, int, bytes]]:
        level, index, node = 0, self.size, leaf
        yield level, index, node
        while index & 1:  # a right child: merge with the left sibling waiting on the frontier
            node = node_hash(self.hashes.pop(), node)
            level, index = level + 1, index >> 1
            yield level, index, node
        self.hashes.append(node)
        self.size += 1

    def extend(self, leaves: Iterator[bytes] | Sequence[bytes]) -> None:
        for leaf in leaves:
            for _ in self.append(leaf):
                pass

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root

    def packed(self) -> bytes:
        return b"".join(self.hashes)

    @classmethod
    def unpack(cls, size: int, packed: bytes) -> Frontier:
        return cls(size, [packed[i : i + HASH_SIZE] for i in range(0, len(packed), HASH_SIZE)])


# --- Proofs from stored perfect nodes -------------------------------------------------------


def subtree_hash(start: int, end: int, node: NodeGetter) -> bytes:
    """MTH(D[start:end]) for a range the RFC's recursion produces (start aligned to the
    largest power of two not above end - start)."""
    width = end - start
    if width & (width - 1) == 0:  # perfect
        level = width.bit_length() - 1
        return node(level, start >> level)
    k = _split(width)
    return node_hash(subtree_hash(start, start + k, node), subtree_hash(start + k, end, node))


def inclusion_path(index: int, size: int, node: NodeGetter) -> list[bytes]:
    """RFC 9162 2.1.3.1: the audit path of leaf `index` in the tree of `size` leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    start, n, m = 0, size, index
    while n > 1:
        k = _split(n)
        if m < k:
            path.append(subtree_hash(start + k, start + n, node))
            n = k
        else:
            path.append(subtree_hash(start, start + k, node))
            start, n, m = start + k, n - k, m - k
    path.reverse()  # the RFC lists the path from the leaf up
    return path


def consistency_path(first: int, second: int, node: NodeGetter) -> list[bytes]:
    """RFC 9162 2.1.4.1: the proof that the tree of `first` leaves is a prefix of `second`."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second} leaves")
    if first in (0, second):
        return []
    proof: list[bytes] = []
    start, n, m, whole = 0, second, first, True
    while m != n:
        k = _split(n)
        if m <= k:
            proof.append(subtree_hash(start + k, start + n, node))
            n = k
        else:
            proof.append(subtree_hash(start, start + k, node))
            start, n, m, whole = start + k, n - k, m - k, False
    if not whole:
        proof.append(subtree_hash(start, start + n, node))
    proof.reverse()
    return proof


def needed_nodes(compute: Callable[[NodeGetter], object]) -> set[tuple[int, int]]:
    """The (level, index) nodes a proof computation reads (the recursion does not depend on
    hash values), so that a caller can fetch them all in one query before computing."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return EMPTY_ROOT

    compute(record)
    return wanted


# --- Verification (RFC 9162 2.1.3.2 and 2.1.4.2) --------------------------------------------


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to, or None when the proof has the wrong shape."""
    if not 0 <= index < size or any(len(h) != HASH_SIZE for h in path):
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    return root_from_inclusion(index, size, leaf, path) == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    if not 0 <= first <= second or any(len(h) != HASH_SIZE for h in proof):
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof  # the empty tree is a prefix of every tree
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first tree's root is the first node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root
