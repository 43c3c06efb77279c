"""C2SP signed notes (Ed25519) and C2SP tlog-checkpoint bodies: signing, opening, parsing.

A checkpoint is the note text "<origin>\\n<tree size>\\n<base64 root hash>\\n", signed as a note:
the text, a blank line, then one line per signature "— <key name> <base64(key id || sig)>".
The key name is the log's origin; the key id is the first 4 bytes of
SHA-256(name || 0x0A || 0x01 || public key) (c2sp.org/signed-note, c2sp.org/tlog-checkpoint).
The verifier key an auditor holds is "<name>+<key id hex>+<base64(0x01 || public key)>".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = b"\x01"  # the signed-note signature type of Ed25519
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A note, key or checkpoint that does not parse or does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.tree_size}\n{base64.b64encode(self.root_hash).decode()}\n"


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise NoteError(f"not base64: {text[:40]!r}") from exc


def check_key_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"a note key name must be non-empty, without spaces or '+': {name!r}")
    return name


def signing_key_from_seed(seed_b64: str) -> Ed25519PrivateKey:
    """LEDGER_SIGNING_KEY: the base64 of a 32-byte Ed25519 seed."""
    seed = _b64decode(seed_b64.strip())
    if len(seed) != 32:
        raise NoteError(f"an Ed25519 seed is 32 bytes, this one {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def new_seed() -> str:
    """A new LEDGER_SIGNING_KEY value."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode()


def public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    check_key_name(name)
    return f"{name}+{key_id(name, public_key).hex()}+{base64.b64encode(ED25519 + public_key).decode()}"


@dataclass(frozen=True)
class Verifier:
    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """A verifier key "<name>+<hex key id>+<base64(0x01 || key)>", checked end to end."""
        name, plus, rest = vkey.strip().partition("+")
        hex_id, plus2, encoded = rest.partition("+")
        if not plus or not plus2 or len(hex_id) != 8:
            raise NoteError("a verifier key reads <name>+<8 hex digits>+<base64 key>")
        check_key_name(name)
        raw = _b64decode(encoded)
        if len(raw) != 33 or raw[:1] != ED25519:
            raise NoteError("only Ed25519 verifier keys (type 0x01, 32 bytes) are accepted")
        try:
            wanted = bytes.fromhex(hex_id)
        except ValueError as exc:
            raise NoteError("the key id is not hexadecimal") from exc
        if hex_id != hex_id.lower() or key_id(name, raw[1:]) != wanted:
            raise NoteError("the key id does not match the key")
        return cls(name, wanted, Ed25519PublicKey.from_public_bytes(raw[1:]))

    @classmethod
    def for_key(cls, name: str, key: Ed25519PrivateKey | Ed25519PublicKey) -> Verifier:
        return cls.parse(verifier_key(name, public_bytes(key)))


def sign(text: str, *, name: str, key: Ed25519PrivateKey) -> str:
    """The signed note of `text` (which ends in a newline) under `name`."""
    check_key_name(name)
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("a note text ends with one newline and has no blank line")
    signature = key.sign(text.encode())
    blob = base64.b64encode(key_id(name, public_bytes(key)) + signature).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{name} {blob}\n"


def open_note(note: str, verifier: Verifier) -> str:
    """The text of `note` if `verifier` signed it; NoteError otherwise (never the text alone:
    a signature by the known key that fails rejects the whole note, as the spec says)."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("a note has no control characters but newlines")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("a note is its text, a blank line and signature lines")
    text, lines = note[: split + 1], note[split + 2 :].splitlines()
    if not lines or len(lines) > MAX_SIGNATURES:
        raise NoteError("a note carries between 1 and 100 signatures")
    verified = False
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"not a signature line: {line[:60]!r}")
        name, space, blob = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not space or not name or " " in blob:
            raise NoteError(f"not a signature line: {line[:60]!r}")
        raw = _b64decode(blob)
        if len(raw) < 5:
            raise NoteError("a signature is a key id and at least one byte")
        if name != verifier.name or raw[:4] != verifier.key_id:
            continue  # another key (a witness, a rotated key): ignored, as the spec says
        try:
            verifier.public_key.verify(raw[4:], text.encode())
        except InvalidSignature as exc:
            raise NoteError(f"the signature of {name} does not verify") from exc
        verified = True
    if not verified:
        raise NoteError(f"the note is not signed by {verifier.name}+{verifier.key_id.hex()}")
    return text


def parse_checkpoint(text: str) -> Checkpoint:
    """The origin, tree size and root hash of a checkpoint's (verified) text."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise NoteError("a checkpoint is at least three non-empty lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not size_text.isdigit() or (size_text.startswith("0") and size_text != "0"):
        raise NoteError(f"the tree size {size_text!r} is not a decimal without leading zeroes")
    root = _b64decode(root_text)
    if len(root) != 32:
        raise NoteError("the root hash is not 32 bytes")
    return Checkpoint(origin=origin, tree_size=int(size_text), root_hash=root)


def open_checkpoint(note: str, verifier: Verifier, *, origin: str | None = None) -> Checkpoint:
    """A signed checkpoint, verified: signature by `verifier`, and the expected origin."""
    checkpoint = parse_checkpoint(open_note(note, verifier))
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"the checkpoint is for origin {checkpoint.origin!r}, not {origin!r}")
    return checkpoint
