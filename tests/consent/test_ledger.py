"""The consent ledger as a verifiable log: sequencing, signed checkpoints, inclusion and
consistency proofs, tamper evidence against an insider, the append-only trigger, concurrency."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction

from consent.ledger import LEAF_COLUMNS, leaf_bytes
from consent.log import (
    checkpoint_path,
    ledger_checkpoint_sign,
    ledger_head,
    ledger_sequence,
    log_verifier,
    write_checkpoint_file,
)
from consent.merkle import Frontier, leaf_hash, verify_consistency, verify_inclusion
from consent.models import (
    ConsentEvent,
    ConsentEvidence,
    ConsentState,
    Contact,
    LedgerCheckpoint,
    LedgerHead,
    LedgerTile,
    LedgerVerification,
)
from consent.note import Checkpoint, open_checkpoint, sign, signing_key_from_seed
from consent.services.erasure import consent_erase
from consent.services.optin import consent_opt_in, consent_opt_out
from consent.services.verification import consent_ledger_verify
from consent.tiles import TileWriter
from consent.types import Actor
from pandorakart_wa.core.api.keys import api_key_create
from tests.core.helpers import ROOT

PHONE = "+919227021270"
OTHER_KEY = "b3RoZXIta2V5LW9mLWFuLWluc2lkZXItMDEyMzQ1Njc="  # a signing key of the attacker's own


@pytest.fixture
def sequence(django_capture_on_commit_callbacks: Any) -> Any:
    """sequence(force=True): one sequencer run, checkpoint files written as after a commit."""

    def run(*, force: bool = True) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return ledger_sequence(force_checkpoint=force)

    return run


def build_ledger(notices: Any, actor: Actor, n: int = 3) -> list[ConsentEvent]:
    for i in range(n):
        consent_opt_in(phone=f"+9198765000{i:02d}", purposes=["marketing", "order_updates"],
                       notice=notices["en"], source="checkout", actor=actor, evidence={"ip": f"203.0.113.{i}"})
    consent_opt_out(phone="+919876500000", purposes=["marketing"], source="whatsapp", actor=actor)
    return list(ConsentEvent.objects.order_by("id"))


def run_verify(capsys: Any) -> tuple[int, str]:
    try:
        call_command("verify_consent_ledger")
    except SystemExit as exc:
        captured = capsys.readouterr()
        return int(exc.code or 0), captured.out + captured.err
    captured = capsys.readouterr()
    return 0, captured.out + captured.err


def sql(statement: str, params: list[Any] | None = None, *, bypass_trigger: bool = True) -> None:
    """Tamper with the ledger the way an attacker with database access would."""
    with connection.cursor() as cursor:
        if bypass_trigger:  # a superuser's way round triggers (and FK checks) for this session
            cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(statement, params or [])
        finally:
            if bypass_trigger:
                cursor.execute("SET session_replication_role = DEFAULT")


def recompute_every_stored_hash_as_an_insider(*, resign_with: str | None = None) -> None:
    """What a database administrator with the code can do after rewriting events: recompute
    every leaf and every stored tree node (tiles, head) with the project's own code, and drop
    the database's checkpoints or re-sign them with a key of their own."""
    rows = ConsentEvent.objects.filter(sequence__isnull=False).order_by("sequence").values_list(*LEAF_COLUMNS)
    frontier, writer = Frontier(), TileWriter()
    for row in rows:
        for level, index, node in frontier.append(leaf_hash(leaf_bytes(row))):
            writer.add(level, index, node)
    LedgerTile.objects.all().delete()
    LedgerTile.objects.bulk_create(LedgerTile(level=lv, index=ix, hashes=h) for (lv, ix), h in writer.take().items())
    LedgerHead.objects.filter(pk=1).update(size=frontier.size, frontier=frontier.packed())
    for checkpoint in LedgerCheckpoint.objects.all():
        if resign_with is None:
            checkpoint.delete()
            continue
        body = Checkpoint(checkpoint.origin, checkpoint.tree_size, frontier_root_at(checkpoint.tree_size))
        note = sign(body.body(), name=checkpoint.origin, key=signing_key_from_seed(resign_with))
        LedgerCheckpoint.objects.filter(pk=checkpoint.pk).update(note=note, root_hash=body.root_hash)


def frontier_root_at(size: int) -> bytes:
    rows = ConsentEvent.objects.filter(sequence__lte=size).order_by("sequence").values_list(*LEAF_COLUMNS)
    frontier = Frontier()
    frontier.extend(leaf_hash(leaf_bytes(row)) for row in rows)
    return frontier.root()


def verifier_key_printed() -> str:
    out = StringIO()
    call_command("ledger_public_key", stdout=out, stderr=StringIO())
    return out.getvalue().strip().splitlines()[-1]


def ledger_client(scopes: list[str] | None = None) -> Any:
    from rest_framework.test import APIClient

    _, key = api_key_create(name="auditor", scopes=scopes or ["ledger"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


# --- Sequencing and checkpoints -----------------------------------------------------------


@pytest.mark.django_db
def test_events_wait_for_the_sequencer_then_get_consecutive_positions(notices, actor, sequence):
    # given events just written
    events = build_ledger(notices, actor)
    assert all(e.sequence is None for e in ConsentEvent.objects.all())
    # when the sequencer runs
    run = sequence()
    # then each has the next position, in write order, and a checkpoint signs the whole tree
    assert run.integrated == len(events)
    assert list(ConsentEvent.objects.order_by("id").values_list("sequence", flat=True)) == list(
        range(1, len(events) + 1))
    checkpoint = LedgerCheckpoint.objects.get()
    assert checkpoint.tree_size == len(events) == ledger_head()[0]
    opened = open_checkpoint(checkpoint.note, log_verifier(), origin="test.pandorakart.example/consent-ledger")
    assert opened.root_hash == bytes(checkpoint.root_hash) == ledger_head()[1].root()
    # and the same note is outside the database
    assert checkpoint_path(checkpoint.tree_size).read_text() == checkpoint.note


@pytest.mark.django_db
def test_a_checkpoint_is_signed_at_most_every_ledger_checkpoint_seconds(notices, actor, settings, sequence):
    # given a checkpoint just signed
    settings.LEDGER_CHECKPOINT_SECONDS = 10
    build_ledger(notices, actor, n=1)
    first = sequence(force=False).checkpoint
    assert first is not None
    # when more events arrive within the interval
    consent_opt_out(phone=PHONE, source="whatsapp", actor=actor)
    run = sequence(force=False)
    # then they get positions at once, but the next checkpoint waits for its time
    assert run.integrated == 4 and run.checkpoint is None and run.waiting and run.first_since_checkpoint
    assert 0 < run.next_checkpoint_in <= 10
    # and is signed once it is due
    later = ledger_checkpoint_sign(now=first.signed_at + __import__("datetime").timedelta(seconds=10))
    assert later is not None and later.tree_size == ledger_head()[0]
    # and nothing is signed when nothing arrived
    assert ledger_checkpoint_sign(force=True) is None


@pytest.mark.django_db
def test_every_event_has_an_inclusion_proof_against_the_signed_root(notices, actor, sequence):
    # given a ledger sequenced in several batches and checkpoints (odd sizes, tile edges)
    for i in range(40):
        consent_opt_in(phone=f"+9198770{i:05d}", purposes=["marketing"], notice=notices["en"], source="checkout",
                       actor=actor)
        if i % 13 == 5:
            sequence()
    sequence()
    client = ledger_client()
    signed = client.get("/api/v1/ledger/checkpoint").json()
    # when an auditor holding only the public key checks every event's proof
    verifier = open_checkpoint(signed["note"], log_verifier())
    assert signed["tree_size"] == 40 and base64.b64decode(signed["root_hash"]) == verifier.root_hash
    for event in ConsentEvent.objects.all():
        proof = client.get(f"/api/v1/ledger/proof/{event.public_id}").json()
        leaf = base64.b64decode(proof["leaf_hash"])
        # then the leaf is its data's, and the path leads to the signed root
        assert leaf == leaf_hash(proof["leaf_data"].encode())
        assert json.loads(proof["leaf_data"])["event"] == event.public_id
        assert event.sequence is not None
        assert proof["leaf_index"] == event.sequence - 1 and proof["tree_size"] == 40
        assert verify_inclusion(proof["leaf_index"], 40, leaf, [base64.b64decode(h) for h in proof["inclusion_path"]],
                                verifier.root_hash)


@pytest.mark.django_db
def test_a_proof_against_an_earlier_checkpoint_and_a_consistency_proof_old_to_new(notices, actor, sequence):
    # given a checkpoint, then more events and a newer checkpoint
    build_ledger(notices, actor, n=2)
    old = sequence().checkpoint
    build_ledger(notices, actor, n=3)
    new = sequence().checkpoint
    assert old is not None and new is not None and old.tree_size < new.tree_size
    client = ledger_client()
    # when the auditor holding the old checkpoint asks how the new one extends it
    body = client.get(f"/api/v1/ledger/consistency?first={old.tree_size}").json()
    # then the proof verifies between the two signed roots
    old_cp = open_checkpoint(old.note, log_verifier())
    new_cp = open_checkpoint(body["checkpoint"], log_verifier())
    assert body["second"] == new_cp.tree_size == new.tree_size
    assert verify_consistency(old_cp.tree_size, new_cp.tree_size, old_cp.root_hash, new_cp.root_hash,
                              [base64.b64decode(h) for h in body["consistency_path"]])
    # and an early event is provable against the old checkpoint too
    first = ConsentEvent.objects.get(sequence=1)
    proof = client.get(f"/api/v1/ledger/proof/{first.public_id}?tree_size={old.tree_size}").json()
    assert verify_inclusion(0, old.tree_size, base64.b64decode(proof["leaf_hash"]),
                            [base64.b64decode(h) for h in proof["inclusion_path"]], old_cp.root_hash)


@pytest.mark.django_db
def test_an_event_not_yet_in_a_checkpoint_is_404_not_yet_sequenced_with_retry_after(notices, actor, sequence):
    client = ledger_client()
    receipt = consent_opt_in(phone=PHONE, purposes=["marketing"], notice=notices["en"], source="checkout",
                             actor=actor)
    event = receipt.events[0]
    # when asked before the sequencer ran
    response = client.get(f"/api/v1/ledger/proof/{event.public_id}")
    # then
    assert response.status_code == 404 and response.json()["code"] == "not_yet_sequenced"
    assert 1 <= int(response["Retry-After"]) <= 10
    # and after it ran and signed, the proof is there
    sequence()
    assert client.get(f"/api/v1/ledger/proof/{event.public_id}").status_code == 200


@pytest.mark.django_db
def test_unknown_events_and_tree_sizes_are_404_not_found(notices, actor, sequence):
    client = ledger_client()
    assert client.get("/api/v1/ledger/checkpoint").json()["code"] == "not_found"  # none signed yet
    build_ledger(notices, actor, n=1)
    sequence()
    event = ConsentEvent.objects.first()
    assert event is not None
    assert client.get("/api/v1/ledger/proof/ev_" + "0" * 32).json()["code"] == "not_found"
    assert client.get("/api/v1/ledger/proof/c_nonsense").json()["code"] == "not_found"
    assert client.get(f"/api/v1/ledger/proof/{event.public_id}?tree_size=2").json()["code"] == "not_found"
    assert client.get("/api/v1/ledger/checkpoint?tree_size=99").status_code == 404
    assert client.get("/api/v1/ledger/consistency?first=99").status_code == 400


@pytest.mark.django_db
def test_the_openapi_schema_describes_the_ledger_endpoints(anon_client):
    schema = anon_client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    proof = paths["/api/v1/ledger/proof/{event}"]["get"]
    assert {"200", "404"} <= set(proof["responses"])
    assert "Retry-After" in proof["responses"]["404"].get("headers", {})
    assert {p["name"] for p in proof["parameters"]} >= {"event", "tree_size"}
    assert {"200", "404"} <= set(paths["/api/v1/ledger/checkpoint"]["get"]["responses"])
    assert "/api/v1/ledger/consistency" in paths
    components = schema["components"]["schemas"]
    assert set(components["Checkpoint"]["properties"]) == {"origin", "tree_size", "root_hash", "timestamp", "note"}
    assert {"event", "leaf_index", "tree_size", "leaf_hash", "inclusion_path"} <= set(
        components["InclusionProof"]["properties"])


@pytest.mark.django_db
def test_the_ledger_endpoints_need_the_ledger_scope(notices, actor):
    assert ledger_client(scopes=["consent"]).get("/api/v1/ledger/checkpoint").status_code == 403


@pytest.mark.django_db
def test_ledger_public_key_prints_the_c2sp_verifier_key_that_opens_the_checkpoints(notices, actor, sequence):
    # given
    build_ledger(notices, actor, n=1)
    checkpoint = sequence().checkpoint
    # when
    vkey = verifier_key_printed()
    # then it is name+keyid+key of the log, and it opens the checkpoint
    from consent.note import Verifier

    name, key_id, _ = vkey.split("+", 2)
    assert name == "test.pandorakart.example/consent-ledger" and len(key_id) == 8
    assert open_checkpoint(checkpoint.note, Verifier.parse(vkey)).tree_size == checkpoint.tree_size


@pytest.mark.django_db
def test_the_auditors_script_verifies_a_receipt_with_only_the_public_key(notices, actor, sequence, tmp_path):
    # given a receipt's event, sequenced and signed, and its proof as the API gives it
    receipt = consent_opt_in(phone=PHONE, purposes=["marketing", "support"], notice=notices["en"],
                             source="checkout", actor=actor)
    build_ledger(notices, actor, n=2)
    sequence()
    proof = ledger_client().get(f"/api/v1/ledger/proof/{receipt.events[1].public_id}").json()
    good = tmp_path / "proof.json"
    good.write_text(json.dumps(proof))
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps({**proof, "leaf_data": proof["leaf_data"].replace("opt_in", "opt_out")}))
    vkey = verifier_key_printed()

    def script(path: Any, key: str = vkey) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(ROOT / "scripts/verify_receipt.py"), str(path), key],
                              capture_output=True, text=True, check=False)

    # when / then the script accepts it, and refuses altered data or another log's key
    ok = script(good)
    assert ok.returncode == 0, ok.stderr
    assert f"OK {receipt.events[1].public_id}" in ok.stdout
    assert script(altered).returncode == 1
    from consent.note import verifier_key

    other = verifier_key("test.pandorakart.example/consent-ledger",
                         signing_key_from_seed(OTHER_KEY).public_key().public_bytes_raw())
    assert script(good, other).returncode == 1


# --- Verification -------------------------------------------------------------------------


@pytest.mark.django_db
def test_intact_ledger_verifies_with_exit_0_against_every_checkpoint(notices, actor, capsys, sequence):
    # given
    build_ledger(notices, actor)
    sequence()
    build_ledger(notices, actor, n=1)
    sequence()
    events = ConsentEvent.objects.count()
    # when
    code, output = run_verify(capsys)
    # then
    assert code == 0, output
    assert f"{events} events verified" in output and "against 4 signed checkpoints" in output  # 2 rows, 2 files
    run = LedgerVerification.objects.get()
    assert run.ok and run.events_checked == events and run.head_sequence == events


@pytest.mark.django_db
def test_empty_ledger_verifies(capsys):
    assert run_verify(capsys)[0] == 0


@pytest.mark.django_db
def test_an_update_in_sql_is_detected_and_named(notices, actor, capsys, sequence):
    # given an intact, signed ledger
    build_ledger(notices, actor)
    sequence()
    victim = ConsentEvent.objects.get(sequence=4)
    # when someone flips an opt-in to an opt-out directly in the database
    sql("UPDATE consent_consentevent SET action = 'opt_out' WHERE id = %s", [victim.pk])
    # then verification fails naming that event
    code, output = run_verify(capsys)
    assert code == 1
    assert "#4" in output and victim.public_id in output and "altered" in output
    run = LedgerVerification.objects.get()
    assert not run.ok and run.first_bad_sequence == 4


@pytest.mark.django_db
def test_a_changed_timestamp_is_detected(notices, actor, capsys, sequence):
    build_ledger(notices, actor)
    sequence()
    victim = ConsentEvent.objects.get(sequence=2)
    sql("UPDATE consent_consentevent SET occurred_at = occurred_at - interval '1 day' WHERE id = %s", [victim.pk])
    code, output = run_verify(capsys)
    assert code == 1 and "#2" in output


@pytest.mark.django_db
def test_an_insider_who_recomputes_every_hash_and_node_is_caught_by_the_checkpoint_outside(notices, actor, capsys,
                                                                                           sequence):
    # given a signed ledger whose checkpoint file survives outside the database
    build_ledger(notices, actor)
    first = sequence().checkpoint
    build_ledger(notices, actor, n=1)
    sequence()
    # when an insider rewrites an event, recomputes every leaf, tile and the head with the
    # project's own code, and drops the database's checkpoints
    victim = ConsentEvent.objects.get(sequence=3)
    sql("UPDATE consent_consentevent SET source = 'import' WHERE id = %s", [victim.pk])
    recompute_every_stored_hash_as_an_insider()
    assert not LedgerCheckpoint.objects.exists()
    # then everything the database holds is consistent, and verification still fails against
    # the first checkpoint file, naming the range the rewritten event is in
    code, output = run_verify(capsys)
    assert code == 1, output
    assert f"the ledger's first {first.tree_size} events do not match checkpoint file" in output
    assert str(checkpoint_path(first.tree_size)) in output and f"#1..#{first.tree_size}" in output


@pytest.mark.django_db
def test_an_insider_who_re_signs_the_checkpoints_with_a_key_of_their_own_is_refused(notices, actor, capsys, sequence):
    # given a signed ledger, its checkpoint files removed too (the worst case)
    build_ledger(notices, actor)
    checkpoint = sequence().checkpoint
    checkpoint_path(checkpoint.tree_size).unlink()
    # when the insider rewrites an event, recomputes everything and re-signs with their own key
    sql("UPDATE consent_consentevent SET purpose = 'support' WHERE sequence = 1")
    recompute_every_stored_hash_as_an_insider(resign_with=OTHER_KEY)
    # then the checkpoint in the database is refused: not signed by the ledger's key
    code, output = run_verify(capsys)
    assert code == 1
    assert f"the checkpoint of {checkpoint.tree_size} events in the database" in output
    assert "is refused" in output and "not signed by test.pandorakart.example/consent-ledger" in output


@pytest.mark.django_db
def test_a_checkpoint_file_signed_with_another_key_is_refused(notices, actor, capsys, sequence):
    # given an intact ledger
    build_ledger(notices, actor)
    sequence()
    size, frontier = ledger_head()
    # when a checkpoint signed by another key (same name) lands in the checkpoint directory
    body = Checkpoint("test.pandorakart.example/consent-ledger", size + 5, frontier.root()).body()
    forged = sign(body, name="test.pandorakart.example/consent-ledger", key=signing_key_from_seed(OTHER_KEY))
    write_checkpoint_file(size + 5, forged)
    # then verification refuses it, naming the file
    code, output = run_verify(capsys)
    assert code == 1
    assert str(checkpoint_path(size + 5)) in output and "is refused" in output


@pytest.mark.django_db
def test_a_deleted_row_is_detected(notices, actor, capsys, sequence):
    build_ledger(notices, actor)
    sequence()
    victim = ConsentEvent.objects.get(sequence=3)
    sql("DELETE FROM consent_consentevidence WHERE event_id = %s", [victim.pk], bypass_trigger=False)
    sql("UPDATE consent_consentstate SET last_event_id = (SELECT min(id) FROM consent_consentevent) "
        "WHERE last_event_id = %s", [victim.pk], bypass_trigger=False)
    sql("DELETE FROM consent_consentevent WHERE id = %s", [victim.pk])
    code, output = run_verify(capsys)
    assert code == 1
    assert "#3 is missing" in output and "#4" in output


@pytest.mark.django_db
def test_reordered_rows_are_detected(notices, actor, capsys, sequence):
    # given two events whose positions are swapped
    build_ledger(notices, actor)
    sequence()
    a, b = ConsentEvent.objects.get(sequence=2), ConsentEvent.objects.get(sequence=5)
    sql("UPDATE consent_consentevent SET sequence = -1 WHERE id = %s", [a.pk])
    sql("UPDATE consent_consentevent SET sequence = 2 WHERE id = %s", [b.pk])
    sql("UPDATE consent_consentevent SET sequence = 5 WHERE id = %s", [a.pk])
    # when / then
    code, output = run_verify(capsys)
    assert code == 1 and "#2" in output


@pytest.mark.django_db
def test_rows_removed_at_the_end_are_detected_against_the_checkpoints(notices, actor, capsys, sequence):
    # given a signed ledger
    build_ledger(notices, actor)
    sequence()
    # when its last event is removed (and the stored tree shortened to match)
    last = ConsentEvent.objects.order_by("-sequence").first()
    assert last is not None
    sql("DELETE FROM consent_consentevidence WHERE event_id = %s", [last.pk], bypass_trigger=False)
    sql("DELETE FROM consent_consentstate WHERE last_event_id = %s", [last.pk], bypass_trigger=False)
    sql("DELETE FROM consent_consentevent WHERE id = %s", [last.pk])
    checkpoints = list(LedgerCheckpoint.objects.values_list("pk", flat=True))
    recompute_every_stored_hash_as_an_insider(resign_with=None)
    assert not LedgerCheckpoint.objects.filter(pk__in=checkpoints).exists()
    # then the checkpoint file still covers it
    code, output = run_verify(capsys)
    assert code == 1 and "rows removed at the end" in output


@pytest.mark.django_db
def test_altered_evidence_is_detected(notices, actor, capsys, sequence):
    events = build_ledger(notices, actor)
    sequence()
    ConsentEvidence.objects.filter(event=events[0]).update(data={"ip": "10.0.0.1"})
    code, output = run_verify(capsys)
    assert code == 1 and "evidence" in output


@pytest.mark.django_db
def test_erasure_keeps_every_proof_valid(notices, actor, capsys, sequence):
    # given a signed ledger with personal evidence, and an inclusion proof of an opt-in
    build_ledger(notices, actor)
    before = sequence().checkpoint
    client = ledger_client()
    event = ConsentEvent.objects.get(sequence=1)
    proof_before = client.get(f"/api/v1/ledger/proof/{event.public_id}?tree_size={before.tree_size}").json()
    # when the customer is erased (and the log moves on)
    consent_erase(phone="+919876500000", actor=actor)
    sequence()
    # then the evidence and number are gone, the same proof is still served and valid, and the
    # whole ledger verifies against both checkpoints
    assert not ConsentEvidence.objects.filter(event=event, data__isnull=False).exists()
    assert Contact.objects.get(pk=event.contact_id).phone is None
    assert client.get(f"/api/v1/ledger/proof/{event.public_id}?tree_size={before.tree_size}").json() == proof_before
    assert ConsentEvent.objects.filter(action="erase").count() == 4
    assert run_verify(capsys)[0] == 0


def test_consent_ledger_verify_service_records_a_failed_run(db, notices, actor, sequence):
    # given a tampered ledger
    build_ledger(notices, actor, n=1)
    sequence()
    first = ConsentEvent.objects.get(sequence=1)
    sql("UPDATE consent_consentevent SET source = 'import' WHERE id = %s", [first.pk])
    # when
    run = consent_ledger_verify(triggered_by="test")
    # then
    assert not run.ok and run.first_bad_event == first.public_id and run.triggered_by == "test"


# --- The events of the old hash chain become the first leaves -------------------------------


def legacy_chain(notices: Any, actor: Actor) -> None:
    """Events as the hash-chain release wrote them: positions and chain hashes, no tree."""
    from consent.ledger import GENESIS_HASH, event_hash

    build_ledger(notices, actor, n=2)
    prev = GENESIS_HASH
    for seq, event in enumerate(ConsentEvent.objects.order_by("id"), start=1):
        event.sequence, event.prev_hash = seq, prev
        event.hash = event_hash({**{f: getattr(event, f) for f in ("uid", "batch", "purpose", "action", "source",
                                    "notice_version", "notice_sha256", "evidence_sha256", "actor_type", "actor_id",
                                    "actor_label", "occurred_at", "recorded_at")},
                                 "sequence": seq, "contact_id": event.contact_id, "prev_hash": prev})
        prev = event.hash
        sql("UPDATE consent_consentevent SET sequence = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [seq, event.prev_hash, event.hash, event.pk])


@pytest.mark.django_db
def test_the_old_chain_becomes_the_first_leaves_and_stays_verifiable(notices, actor, capsys, sequence):
    import importlib

    from django.apps import apps

    # given a ledger written by the hash-chain release
    legacy_chain(notices, actor)
    chained = ConsentEvent.objects.count()
    # when the migration turns it into the log's first leaves and the sequencer carries on
    importlib.import_module("consent.migrations.0010_log_from_chain").chain_to_leaves(apps, None)
    consent_opt_out(phone=PHONE, source="whatsapp", actor=actor)
    sequence()
    # then the chain's events keep their positions, the new ones follow, and all verifies
    assert ledger_head()[0] == chained + 4
    assert run_verify(capsys)[0] == 0
    # and the chain is still checked: an event altered with its hash recomputed (and, by an
    # insider, every tree node too) breaks the next link before any checkpoint is reached
    from consent.ledger import chain_preimage, chained_fields, sha256_hex

    row = ConsentEvent.objects.filter(sequence=2).values_list(*LEAF_COLUMNS).get()
    fields = {**chained_fields(row), "purpose": "support"}
    sql("UPDATE consent_consentevent SET purpose = 'support', hash = %s WHERE sequence = 2",
        [sha256_hex(chain_preimage(fields))])
    code, output = run_verify(capsys)
    assert code == 1 and "#2" in output and "does not match the leaf the log recorded" in output
    recompute_every_stored_hash_as_an_insider()
    code, output = run_verify(capsys)
    assert code == 1 and "#3" in output and "does not chain" in output


# --- The database itself ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("statement", ["UPDATE consent_consentevent SET action = 'opt_out'",
                                       "DELETE FROM consent_consentevent",
                                       "UPDATE consent_consentevent SET sequence = 7",
                                       "UPDATE consent_consentevent SET sequence = id, source = 'import'"])
def test_the_database_refuses_update_and_delete(notices, actor, statement):
    # given events, one of them already sequenced
    build_ledger(notices, actor, n=1)
    ledger_sequence()
    consent_opt_out(phone=PHONE, source="whatsapp", actor=actor)
    # when / then: nothing but giving a waiting event its position is let through
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        sql(statement, bypass_trigger=False)
    assert ConsentEvent.objects.filter(action="opt_in").count() == 2


@pytest.mark.django_db
def test_the_orm_cannot_update_or_delete_events_either(notices, actor):
    build_ledger(notices, actor, n=1)
    event = ConsentEvent.objects.first()
    assert event is not None
    with pytest.raises(DatabaseError), transaction.atomic():
        event.delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        ConsentEvent.objects.update(source="import")


# --- Concurrency --------------------------------------------------------------------------

CONCURRENT_REQUESTS = 64


def race(requests: list[Any], *, sequencer: bool = True) -> tuple[list[int], list[BaseException]]:
    """Run the requests at once from their own threads (own connections), with the sequencer
    running alongside as beat would run it; return their status codes and any errors."""
    barrier = threading.Barrier(len(requests) + 1)
    statuses: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def request(call: Any) -> None:
        try:
            barrier.wait(timeout=30)
            statuses.append(call())
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    def sequencer_loop() -> None:
        try:
            barrier.wait(timeout=30)
            while not done.is_set():
                ledger_sequence(force_checkpoint=True)
                time.sleep(0.01)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request, args=(call,)) for call in requests]
    helper = threading.Thread(target=sequencer_loop if sequencer else barrier.wait)
    helper.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    helper.join(timeout=60)
    return statuses, errors


def api_call(key: str, path: str, body: dict[str, Any]) -> Any:
    from rest_framework.test import APIClient

    def call() -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        return int(client.post(path, body, format="json").status_code)

    return call


def opt_in_body(phone: str, **extra: Any) -> dict[str, Any]:
    return {"phone": phone, "purposes": ["marketing"], "notice_version": "2026-11-01-en", "source": "checkout", **extra}


def opt_out_body(phone: str) -> dict[str, Any]:
    return {"phone": phone, "purposes": ["marketing"], "source": "account_settings"}


def replayed_state(events: Any) -> tuple[int, str]:
    """(deciding event, status) from the customer's events in the order they were written, by
    the projection's rules: a withdrawal always decides; a consent only if it did not occur
    before the decision in force (each request takes its time when it arrives, its turn when it
    has the customer's lock, so a consent may be written after a later decision)."""
    deciding, since, status = 0, None, ""
    for event in events.order_by("id"):
        granted = event.action in ("opt_in", "resubscribe")
        if granted and since is not None and since > event.occurred_at:
            continue
        deciding, since, status = event.pk, event.occurred_at, "opted_in" if granted else "opted_out"
    return deciding, status


def assert_one_valid_tree(capsys: Any) -> None:
    ledger_sequence(force_checkpoint=True)
    events = ConsentEvent.objects.count()
    # an unsequenced event (None) fails this as before: the list is then shorter than `events`
    sequences = [s for s in ConsentEvent.objects.values_list("sequence", flat=True) if s is not None]
    assert sorted(sequences) == list(range(1, events + 1))
    assert ledger_head()[0] == events
    code, output = run_verify(capsys)
    assert code == 0, output


@pytest.mark.django_db(transaction=True)
def test_64_concurrent_opt_ins_and_opt_outs_on_the_same_number_keep_one_tree_and_the_last_decision(capsys):
    # given a published notice and a known contact
    from consent.seed import seed_notices

    seed_notices()
    _, key = api_key_create(name="storefront")
    calls = [api_call(key, "/api/v1/consents/opt-out", opt_out_body(PHONE)) if i % 2
             else api_call(key, "/api/v1/consents/opt-in", opt_in_body(PHONE)) for i in range(CONCURRENT_REQUESTS)]
    # when 64 requests race on the same number (and the same new contact), the sequencer running
    statuses, errors = race(calls)
    # then no request failed, the ledger is one valid tree, and the state is the last decision
    assert not errors, errors
    assert Counter(statuses) == {201: 32, 200: 32}
    assert ConsentEvent.objects.count() == CONCURRENT_REQUESTS and Contact.objects.count() == 1
    assert_one_valid_tree(capsys)
    state = ConsentState.objects.get(purpose="marketing")
    assert (state.last_event_id, state.status) == replayed_state(ConsentEvent.objects.filter(purpose="marketing"))


@pytest.mark.django_db(transaction=True)
def test_64_concurrent_opt_ins_and_opt_outs_on_distinct_numbers_keep_one_tree_and_every_state(capsys):
    from consent.seed import seed_notices

    seed_notices()
    _, key = api_key_create(name="storefront")
    phones = [f"+91987650{i:04d}" for i in range(CONCURRENT_REQUESTS)]
    calls = [api_call(key, "/api/v1/consents/opt-out", opt_out_body(p)) if i % 2
             else api_call(key, "/api/v1/consents/opt-in", opt_in_body(p)) for i, p in enumerate(phones)]
    statuses, errors = race(calls)
    assert not errors, errors
    assert Counter(statuses) == {201: 32, 200: 32}
    assert_one_valid_tree(capsys)
    states = dict(ConsentState.objects.filter(purpose="marketing").values_list("contact__phone_digest", "status"))
    from pandorakart_wa.core.phones import phone_digest

    assert [states[phone_digest(p)] for p in phones] == ["opted_out" if i % 2 else "opted_in" for i in range(64)]


@pytest.mark.django_db(transaction=True)
def test_a_withdrawal_wins_over_concurrent_back_dated_consents(capsys):
    # given a customer who opted in, then 63 back-dated re-consents racing one opt-out
    from consent.seed import seed_notices

    seed_notices()
    _, key = api_key_create(name="storefront")
    api_call(key, "/api/v1/consents/opt-in", opt_in_body(PHONE))()
    back_dated = opt_in_body(PHONE, occurred_at="2026-01-01T10:00:00+05:30", source="import")
    calls = [api_call(key, "/api/v1/consents/opt-in", back_dated) for _ in range(CONCURRENT_REQUESTS - 1)]
    calls.insert(31, api_call(key, "/api/v1/consents/opt-out", opt_out_body(PHONE)))
    # when they race
    statuses, errors = race(calls)
    # then every one is recorded, and the withdrawal is what the state shows, whatever the order
    assert not errors, errors
    assert Counter(statuses) == {201: 63, 200: 1}
    state = ConsentState.objects.get(purpose="marketing")
    assert state.status == "opted_out" and state.last_event.action == "opt_out"
    assert_one_valid_tree(capsys)
