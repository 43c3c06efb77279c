#!/usr/bin/env python3
"""Check consent-ledger proofs with nothing but the ledger's public key (README, "For auditors").

    python3 verify_receipt.py proof.json '<name>+<key id>+<key>'  # GET /api/v1/ledger/proof/{event}
    python3 verify_receipt.py pack.json '<name>+<key id>+<key>'   # an evidence pack's JSON download

Standard library and `cryptography` only. Exit 0 when every proof checks out, 1 otherwise."""

import base64
import hashlib
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def check(ok: bool, why: str) -> None:
    if not ok:
        sys.exit(f"NOT VERIFIED: {why}")


name, key_id, key = sys.argv[2].split("+", 2)
raw = base64.b64decode(key)
check(raw[:1] == b"\1" and sha256(name.encode(), b"\n", raw)[:4].hex() == key_id, "malformed verifier key")
doc = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
proofs = [e["checks"]["inclusion_proof"] for e in doc["consent_events"]] if "consent_events" in doc else [doc]
check(any(proofs), "no inclusion proof in the file (not in a signed checkpoint yet?)")
for p in filter(None, proofs):
    text, _, lines = p["checkpoint"].rpartition("\n\n")  # c2sp.org/signed-note: text, blank line, signatures
    sigs = [base64.b64decode(line.split(" ")[2]) for line in lines.splitlines() if line.startswith(f"— {name} ")]
    sig = next((s for s in sigs if s[:4].hex() == key_id), b"")
    check(bool(sig), "the checkpoint is not signed by this key")
    Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[4:], (text + "\n").encode())  # raises when forged
    origin, size, root = text.split("\n")[:3]  # c2sp.org/tlog-checkpoint
    check(origin == name and int(size) == p["tree_size"], "a checkpoint of another log or size")
    r, fn, sn = sha256(b"\0", p["leaf_data"].encode()), p["leaf_index"], p["tree_size"] - 1
    check(base64.b64encode(r).decode() == p["leaf_hash"], "the leaf does not match its data")
    for h in map(base64.b64decode, p["inclusion_path"]):  # RFC 9162, section 2.1.3.2
        check(sn > 0, "the proof is too long")
        if fn & 1 or fn == sn:
            r = sha256(b"\1", h, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = sha256(b"\1", r, h)
        fn, sn = fn >> 1, sn >> 1
    check(sn == 0 and base64.b64encode(r).decode() == root, f"{p['event']} is not in the signed tree")
    print(f"OK {p['event']}: leaf {p['leaf_index']} of the {size} events signed by {name}")
