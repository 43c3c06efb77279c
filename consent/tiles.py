"""Where the log's perfect-subtree hashes are stored: tiles of height 8, as in C2SP tlog-tiles.

Tile (L, t) holds the hashes of the nodes at tree level 8L with indices 256t .. 256t + 255, in
order, 32 bytes each. A node at level 8L + r (r < 8) is the root of 2^r consecutive stored
hashes of one tile, so any perfect node is one tile read and at most 2^r - 1 hashes away. Only
the rightmost tile of each level is partial; it only ever grows. Pure functions, no Django.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from consent.merkle import HASH_SIZE, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT

TileKey = tuple[int, int]


def node_location(level: int, index: int) -> tuple[TileKey, int, int]:
    """(tile, first hash offset in it, hashes to combine) of the perfect node (level, index)."""
    tile_level, rise = divmod(level, TILE_HEIGHT)
    first = index << rise
    return (tile_level, first >> TILE_HEIGHT), first & (TILE_WIDTH - 1), 1 << rise


def node_from_tile(hashes: bytes, offset: int, count: int) -> bytes:
    """The root over `count` (a power of two) consecutive hashes of a tile from `offset`."""
    layer = [hashes[(offset + i) * HASH_SIZE : (offset + i + 1) * HASH_SIZE] for i in range(count)]
    if any(len(h) != HASH_SIZE for h in layer):
        raise LookupError("the tile does not hold that node (yet)")
    while len(layer) > 1:
        layer = [node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
    return layer[0]


def tiles_for(nodes: Iterable[tuple[int, int]]) -> set[TileKey]:
    return {node_location(level, index)[0] for level, index in nodes}


def partial_tiles(size: int) -> list[tuple[TileKey, int]]:
    """The partial (rightmost, not full) tiles of a tree of `size` leaves, with their widths:
    the tiles the next leaves extend."""
    result = []
    tile_level = 0
    while size >> (TILE_HEIGHT * tile_level):
        stored = size >> (TILE_HEIGHT * tile_level)  # nodes at level 8L that exist
        width = stored & (TILE_WIDTH - 1)
        if width:
            result.append(((tile_level, stored >> TILE_HEIGHT), width))
        tile_level += 1
    return result


class TileWriter:
    """Collects the stored nodes that Frontier.append emits, tile by tile, starting from the
    partial tiles already stored (`existing`, as read from the database)."""

    def __init__(self, existing: Mapping[TileKey, bytes] | None = None) -> None:
        self._existing = dict(existing or {})
        self.changed: dict[TileKey, bytearray] = {}

    def add(self, level: int, index: int, node: bytes) -> None:
        if level % TILE_HEIGHT:
            return  # recomputed from the tile below when needed
        key = (level // TILE_HEIGHT, index >> TILE_HEIGHT)
        buffer = self.changed.get(key)
        if buffer is None:
            buffer = self.changed[key] = bytearray(self._existing.get(key, b""))
        if len(buffer) != (index & (TILE_WIDTH - 1)) * HASH_SIZE:
            raise ValueError(f"tile {key} holds {len(buffer) // HASH_SIZE} hashes, node {index} does not follow them")
        buffer += node

    def take(self) -> dict[TileKey, bytes]:
        """The tiles changed since the last take (full ones are then forgotten)."""
        taken = {key: bytes(buffer) for key, buffer in self.changed.items()}
        for key, hashes in taken.items():  # a partial tile may grow again after any later take
            if len(hashes) < TILE_WIDTH * HASH_SIZE:
                self._existing[key] = hashes
            else:
                self._existing.pop(key, None)
        self.changed = {}
        return taken
