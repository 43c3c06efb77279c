"""The log's formats against the published test vectors: RFC 6962 / RFC 9162 Merkle trees (the
Certificate Transparency reference vectors), C2SP signed notes (Go's golang.org/x/mod/sumdb/note
example key and note), C2SP tlog-checkpoint bodies; and the tile storage proofs are read from."""

from __future__ import annotations

import base64

import pytest

from consent import note
from consent.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_path,
    inclusion_path,
    leaf_hash,
    needed_nodes,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from consent.tiles import TileKey, TileWriter, node_from_tile, node_location, partial_tiles

# RFC 6962's test data as used by every CT implementation (google/certificate-transparency).
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = {
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}
CONSISTENCY = {
    (2, 8): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}

# golang.org/x/mod/sumdb/note's example (note_test.go): its key, text and exact signed note.
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = GO_TEXT + (
    "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def built(leaves: list[bytes]) -> tuple[list[bytes], dict[tuple[int, int], bytes], dict[TileKey, bytes]]:
    """(root after each size, every perfect node, the tiles) of a tree grown leaf by leaf."""
    frontier, nodes, writer, tiles = Frontier(), {}, TileWriter(), {}
    roots = [frontier.root()]
    for leaf in leaves:
        for level, index, node in frontier.append(leaf):
            nodes[(level, index)] = node
            writer.add(level, index, node)
        roots.append(frontier.root())
    tiles.update(writer.take())
    return roots, nodes, tiles


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1's recursive definition, over leaf hashes."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def test_roots_match_rfc6962_for_every_size():
    roots, _, _ = built([leaf_hash(e) for e in LEAVES])
    assert roots[0] == EMPTY_ROOT == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert [r.hex() for r in roots[1:]] == ROOTS


@pytest.mark.parametrize(("index", "size"), sorted(INCLUSION))
def test_inclusion_proofs_match_the_vectors_and_verify(index, size):
    roots, nodes, _ = built([leaf_hash(e) for e in LEAVES])
    path = inclusion_path(index, size, lambda lv, ix: nodes[(lv, ix)])
    assert [h.hex() for h in path] == INCLUSION[(index, size)]
    assert verify_inclusion(index, size, leaf_hash(LEAVES[index]), path, roots[size])
    assert not verify_inclusion(index, size, leaf_hash(LEAVES[index + 1]), path, roots[size])
    assert not verify_inclusion(index, size, leaf_hash(LEAVES[index]), path[:-1], roots[size])


@pytest.mark.parametrize(("first", "second"), sorted(CONSISTENCY))
def test_consistency_proofs_match_the_vectors_and_verify(first, second):
    roots, nodes, _ = built([leaf_hash(e) for e in LEAVES])
    proof = consistency_path(first, second, lambda lv, ix: nodes[(lv, ix)])
    assert [h.hex() for h in proof] == CONSISTENCY[(first, second)]
    assert verify_consistency(first, second, roots[first], roots[second], proof)
    assert not verify_consistency(first, second, roots[first - 1], roots[second], proof)
    assert not verify_consistency(first, second, roots[first], roots[second], proof[1:])


def test_every_proof_read_from_tiles_verifies_and_mangled_ones_do_not():
    # given a tree of 300 leaves (two level-0 tiles, one partial) stored as tiles
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(300)]
    roots, nodes, tiles = built(leaves)

    def from_tiles(level: int, index: int) -> bytes:
        key, offset, count = node_location(level, index)
        return node_from_tile(tiles[key], offset, count)

    # then every stored-or-derived node is the node, every root the RFC's
    assert all(from_tiles(lv, ix) == h for (lv, ix), h in nodes.items())
    for n in (0, 1, 2, 3, 7, 8, 9, 255, 256, 257, 299, 300):
        assert roots[n] == reference_root(leaves[:n])
    # and every inclusion and consistency proof verifies, for sizes around the tile edges
    for n in [*range(1, 70), 255, 256, 257, 300]:
        for i in range(n):
            path = inclusion_path(i, n, from_tiles)
            assert verify_inclusion(i, n, leaves[i], path, roots[n]), (i, n)
            if path:
                assert not verify_inclusion(i, n, leaves[i], [bytes(32), *path[1:]], roots[n])
        other_root = reference_root([*leaves[: n - 1], bytes(32)])  # the same tree, its last leaf replaced
        for m in range(n + 1):
            proof = consistency_path(m, n, from_tiles)
            assert verify_consistency(m, n, roots[m], roots[n], proof), (m, n)
            if 0 < m < n:
                assert not verify_consistency(m, n, roots[m], other_root, proof)
    # and a proof names the nodes it reads before reading them (one query per proof)
    assert needed_nodes(lambda g: inclusion_path(5, 300, g)) <= set(nodes)


def test_tiles_taken_in_pieces_add_up_to_the_same_tiles():
    # given the same 70,000 leaves written in one go and with the tiles taken every 100 leaves
    # (as the migration and the benchmark loader flush them): level-2 tiles stay partial long
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(70_000)]
    _, _, whole = built(leaves)
    frontier, writer, pieces = Frontier(), TileWriter(), {}
    for i, leaf in enumerate(leaves):
        for level, index, node in frontier.append(leaf):
            writer.add(level, index, node)
        if i % 100 == 0:
            pieces.update(writer.take())
    pieces.update(writer.take())
    # then
    assert pieces == whole


def test_only_the_rightmost_tiles_are_partial():
    assert partial_tiles(0) == []
    assert partial_tiles(300) == [((0, 1), 44), ((1, 0), 1)]
    assert partial_tiles(256) == [((1, 0), 1)]


def test_frontier_round_trips_and_refuses_a_wrong_shape():
    frontier = Frontier()
    frontier.extend([leaf_hash(e) for e in LEAVES[:7]])
    again = Frontier.unpack(7, frontier.packed())
    assert again.root() == frontier.root() and again.root().hex() == ROOTS[6]
    with pytest.raises(ValueError):
        Frontier(7, frontier.hashes[:2])


# --- C2SP signed notes and checkpoints ------------------------------------------------------


def go_key():
    seed = base64.b64decode(GO_SIGNER.split("+", 4)[4])[1:]  # type 0x01, then the 32-byte seed
    return note.signing_key_from_seed(base64.b64encode(seed).decode())


def test_signing_reproduces_gos_note_byte_for_byte():
    key = go_key()
    assert note.sign(GO_TEXT, name="PeterNeumann", key=key) == GO_NOTE
    assert note.verifier_key("PeterNeumann", note.public_bytes(key)) == GO_VERIFIER


def test_gos_note_opens_with_gos_verifier_key():
    verifier = note.Verifier.parse(GO_VERIFIER)
    assert note.open_note(GO_NOTE, verifier) == GO_TEXT


def test_an_altered_note_is_refused():
    verifier = note.Verifier.parse(GO_VERIFIER)
    with pytest.raises(note.NoteError, match="does not verify"):
        note.open_note(GO_NOTE.replace("cryptography", "cryptographY"), verifier)


def test_a_note_signed_by_another_key_is_refused():
    # given the same text signed under the same name by a key of one's own
    forged = note.sign(GO_TEXT, name="PeterNeumann", key=note.signing_key_from_seed(note.new_seed()))
    # then Go's verifier key does not accept it (another key id: not a signature it knows)
    with pytest.raises(note.NoteError, match="not signed by PeterNeumann"):
        note.open_note(forged, note.Verifier.parse(GO_VERIFIER))


def test_unknown_signatures_are_ignored_but_one_known_is_needed():
    witness = note.sign(GO_TEXT, name="witness.example/w1", key=note.signing_key_from_seed(note.new_seed()))
    cosigned = GO_NOTE + witness.rpartition("\n\n")[2]
    assert note.open_note(cosigned, note.Verifier.parse(GO_VERIFIER)) == GO_TEXT


@pytest.mark.parametrize("vkey", [
    "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key id
    "PeterNeumann+c74f20a3+AhpC2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # not type 0x01
    "PeterNeumann+c74f20a3",
    "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
])
def test_malformed_verifier_keys_are_refused(vkey):
    with pytest.raises(note.NoteError):
        note.Verifier.parse(vkey)


def test_a_checkpoint_body_follows_tlog_checkpoint():
    # the spec's example body
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    checkpoint = note.parse_checkpoint(text)
    assert (checkpoint.origin, checkpoint.tree_size) == ("example.com/behind-the-sofa", 20852163)
    assert checkpoint.body() == text
    for bad in ("example.com/x\n012\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
                "example.com/x\n12\nnot-base64\n", "example.com/x\n12\n"):
        with pytest.raises(note.NoteError):
            note.parse_checkpoint(bad)


def test_a_signed_checkpoint_opens_only_for_its_origin():
    key = note.signing_key_from_seed(note.new_seed())
    body = note.Checkpoint("example.com/log", 8, bytes.fromhex(ROOTS[7])).body()
    signed = note.sign(body, name="example.com/log", key=key)
    verifier = note.Verifier.for_key("example.com/log", key)
    assert note.open_checkpoint(signed, verifier, origin="example.com/log").tree_size == 8
    with pytest.raises(note.NoteError, match="origin"):
        note.open_checkpoint(signed, verifier, origin="example.com/other")
