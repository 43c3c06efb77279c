"""Reports and the customer evidence pack: who may take each, what is in them (and what is
not: no full phone number), streaming, the audit entry of every export, and the pack's chain and
consent-in-force checks."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from consent.models import ConsentEvent, ConsentEvidence
from consent.seed import seed_notices
from consent.services.optin import consent_opt_in
from consent.types import Actor
from pandorakart_wa.backoffice import reports
from pandorakart_wa.core.phones import mask_phone
from tests.backoffice.helpers import otp_force_login
from tests.backoffice.test_dashboard import seed_compliance_history
from tests.consent.factories import indian_mobile
from tests.core.helpers import ROOT

LEDGER = "/admin/compliance/reports/consent-ledger.csv"
SUPPRESSION = "/admin/compliance/reports/suppression-list.csv"
REGISTER = "/admin/compliance/reports/complaints-register.csv"
REPORTS = "/admin/compliance/reports/"
LOOKUP = "/admin/compliance/evidence/"
SEEDED_NUMBERS = [indian_mobile(n) for n in (101, 102, 103, 104)]  # seed_compliance_history's


def _holds_a_number(text: str) -> bool:
    """Does `text` hold any seeded number, in E.164, wa_id or national form?"""
    return any(number[3:] in text for number in SEEDED_NUMBERS)


def _pack_url(contact, json_=False):
    return f"/admin/compliance/evidence/{contact.public_id}/" + ("pack.json" if json_ else "")


def _body(response) -> str:
    if isinstance(response, StreamingHttpResponse):
        chunks = response.streaming_content
        assert isinstance(chunks, Iterator)  # a synchronous response's
        return b"".join(chunks).decode()
    html: str = response.content.decode()
    return html


def _access_entries(what_prefix: str) -> list[LogEntry]:
    return [e for e in LogEntry.objects.filter(action=LogEntry.Action.ACCESS).order_by("pk")
            if str((e.additional_data or {}).get("what", "")).startswith(what_prefix)]


# --- The role matrix ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "reports_page", "ledger", "suppression", "register", "lookup", "pack"),
    [
        ("officer", 200, 200, 200, 200, 200, 200),
        ("auditor", 200, 200, 200, 200, 200, 200),
        ("support", 200, 403, 403, 403, 200, 200),
        ("marketing", 403, 403, 403, 403, 403, 403),
    ],
)
def test_each_role_gets_exactly_its_reports(client_as, role, reports_page, ledger, suppression, register, lookup,
                                            pack):
    # given a customer and a signed-in user of the role
    notice = {n.language: n for n in seed_notices()}["en"]
    contact = consent_opt_in(phone=indian_mobile(1), purposes=["marketing"], notice=notice, source="checkout",
                             actor=Actor.system("test")).contact
    client = client_as(role)
    # when they open each page and export
    got = {
        "reports_page": client.get(REPORTS).status_code,
        "ledger": client.get(LEDGER).status_code,
        "suppression": client.get(SUPPRESSION).status_code,
        "register": client.get(REGISTER).status_code,
        "lookup": client.get(LOOKUP).status_code,
        "pack": client.get(_pack_url(contact)).status_code,
        "pack_json": client.get(_pack_url(contact, json_=True)).status_code,
    }
    # then each answer is the role's
    assert got == {"reports_page": reports_page, "ledger": ledger, "suppression": suppression, "register": register,
                   "lookup": lookup, "pack": pack, "pack_json": pack}
    # and a refused export left no audit entry claiming it happened
    if ledger == 403:
        assert not _access_entries("exported consent ledger")


def test_support_agent_sees_only_the_evidence_pack_on_the_reports_page(client_as):
    html = client_as("support").get(REPORTS).content.decode()
    assert 'id="report-evidence"' in html
    assert 'id="report-ledger"' not in html and 'id="report-suppression"' not in html
    assert 'id="report-complaints"' not in html


# --- The consent ledger CSV ---------------------------------------------------------------------


def test_ledger_export_streams_the_chain_without_phone_numbers_and_is_audited(client_as, staff):
    # given a history and an auditor
    history = seed_compliance_history()
    auditor = staff("auditor")
    client = otp_force_login(Client(), auditor)
    today = timezone.localdate()
    # when they export the ledger for the last week
    response = client.get(LEDGER, {"date_from": (today - dt.timedelta(days=6)).isoformat(), "date_to": today.isoformat()})
    # then it is a streamed CSV attachment
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    body = _body(response)
    rows = list(csv.DictReader(io.StringIO(body)))
    # with every event of the range in chain order, hashes as stored
    events = list(ConsentEvent.objects.order_by("sequence"))
    assert [int(r["sequence"]) for r in rows] == [e.sequence for e in events]
    first = rows[0]
    assert first["hash"] == events[0].hash and first["prev_hash"] == events[0].prev_hash
    assert first["event_id"] == events[0].public_id
    assert first["contact"] == history.alice.public_id and first["phone_digest"] == history.alice.phone_digest
    assert list(rows[0]) == list(reports.LEDGER_COLUMNS)
    assert {r["action"] for r in rows} == {"opt_in", "opt_out", "erase"}
    # and no phone number, full or masked, is in it
    assert not _holds_a_number(body)
    assert mask_phone(history.alice_phone) not in body
    # and the export is in the audit trail with the auditor as actor and the range
    entry = _access_entries("exported consent ledger CSV")[-1]
    assert entry.actor == auditor
    assert entry.additional_data["date_to"] == today.isoformat()


def test_ledger_export_leaves_out_events_outside_the_range(client_as):
    # given an opt-in 40 days ago and one today
    notice = {n.language: n for n in seed_notices()}["en"]
    actor = Actor.system("test")
    consent_opt_in(phone=indian_mobile(11), purposes=["marketing"], notice=notice, source="import", actor=actor,
                   occurred_at=timezone.now() - dt.timedelta(days=40))
    consent_opt_in(phone=indian_mobile(12), purposes=["marketing"], notice=notice, source="checkout", actor=actor)
    # when the default range (30 days) is exported
    rows = list(csv.DictReader(io.StringIO(_body(client_as("officer").get(LEDGER)))))
    # then only today's event is in it
    assert [r["source"] for r in rows] == ["checkout"]


def test_ledger_export_neutralises_spreadsheet_formulas():
    # given cells a spreadsheet would run as formulas
    chunks = "".join(reports.csv_chunks(["a", "b", "c"], [["=HYPERLINK(\"x\")", "+91", "plain"]]))
    # then they are written as text
    assert chunks.splitlines()[1] == '"\'=HYPERLINK(""x"")",\'+91,plain'


def test_ledger_export_with_a_bad_range_is_refused_and_not_audited(client_as):
    response = client_as("officer").get(LEDGER, {"date_from": "2026-05-02", "date_to": "2026-05-01"})
    assert response.status_code == 400
    assert "on or before the end" in response.content.decode()
    assert not _access_entries("exported consent ledger")


def test_ledger_csv_memory_is_flat_it_yields_in_chunks(db):
    # given many rows
    rows = ([i, "x" * 50] for i in range(10_000))
    # when the CSV is produced
    chunks = list(reports.csv_chunks(["n", "text"], rows))
    # then it comes in several ~64 KiB pieces, not one string
    assert len(chunks) > 5
    assert max(len(c) for c in chunks[:-1]) < reports.CHUNK_BYTES + 200


# --- The suppression list -----------------------------------------------------------------------


def test_suppression_list_has_digests_of_opted_out_blocked_and_erased_numbers_only(client_as):
    # given the history: alice stopped marketing, bala opted out of marketing, chitra erased, dev blocked
    history = seed_compliance_history()
    client = client_as("officer")
    # when the suppression list is exported
    response = client.get(SUPPRESSION)
    body = _body(response)
    rows = {(r["phone_digest"], r["purpose"], r["reason"]) for r in csv.DictReader(io.StringIO(body))}
    # then it lists exactly who must not be messaged, by digest
    assert rows == {
        (history.alice.phone_digest, "marketing", "opted_out"),  # STOP withdraws marketing only
        (history.bala.phone_digest, "marketing", "opted_out"),
        (history.chitra.phone_digest, "*", "erased"),
        (history.dev.phone_digest, "*", "blocked"),
    }
    assert (history.dev.phone_digest, "order_updates", "opted_out") not in rows  # blocked, still opted in
    assert not _holds_a_number(body)
    assert _access_entries("exported suppression list")[-1].actor is not None


# --- The customer evidence pack -------------------------------------------------------------------


def test_lookup_by_phone_number_opens_the_pack_without_putting_the_number_in_a_url(client_as):
    # given a customer
    history = seed_compliance_history()
    client = client_as("support")
    # when an agent types the number in a national format
    response = client.post(LOOKUP, {"phone": "0" + history.alice_phone[3:]})
    # then they are sent to the pack by the customer's opaque id
    assert response.status_code == 302
    assert response["Location"] == _pack_url(history.alice)
    assert history.alice_phone[3:] not in response["Location"]


@pytest.mark.parametrize(("phone", "status", "message"), [
    ("12345", 400, "not a valid phone number"),
    ("", 400, "This field is required"),
    ("+919999912345", 404, "No customer with this number"),
])
def test_lookup_refuses_bad_or_unknown_numbers(client_as, phone, status, message):
    response = client_as("officer").post(LOOKUP, {"phone": phone})
    assert response.status_code == status
    assert message in response.content.decode()


def test_pack_page_masks_the_number_for_everyone_and_offers_the_audited_reveal_and_logs_each_view(client_as, staff):
    # given a customer, an auditor (no consent.reveal_phone) and an officer (has it)
    history = seed_compliance_history()
    auditor, officer = staff("auditor"), staff("officer")
    # when each opens the pack
    as_auditor = otp_force_login(Client(), auditor).get(_pack_url(history.alice)).content.decode()
    as_officer = otp_force_login(Client(), officer).get(_pack_url(history.alice)).content.decode()
    # then both see the masked number only (the page title lands in browser history and tab
    # lists), and the officer is offered the reveal, the same audited POST as the customer page
    for page in (as_auditor, as_officer):
        assert mask_phone(history.alice_phone) in page and history.alice_phone not in page
    title = as_officer.split("<title>", 1)[1].split("</title>", 1)[0]
    assert history.alice.public_id in title and mask_phone(history.alice_phone) not in title
    reveal = reverse("admin:consent_contact_reveal", args=[history.alice.pk])
    assert reveal in as_officer and reveal not in as_auditor
    # and both views are in the audit trail, on the contact, saying the number was not shown
    entries = _access_entries("viewed customer evidence pack")
    assert [(e.actor, e.additional_data["full_number_shown"]) for e in entries] == [(auditor, False), (officer, False)]
    assert all(e.object_pk == str(history.alice.pk) for e in entries)


def test_pack_json_holds_notices_events_with_inclusion_proofs_and_messages_with_consent_in_force(client_as, tmp_path):
    # given alice: opted in to both (with evidence), got two messages, sent STOP (marketing), then
    # got one more marketing message
    history = seed_compliance_history()
    client = client_as("auditor")
    # when the JSON pack is downloaded
    response = client.get(_pack_url(history.alice, json_=True))
    # then it is an attachment, audited
    assert response.status_code == 200
    assert "attachment;" in response["Content-Disposition"]
    assert _access_entries("exported customer evidence pack JSON")
    pack = json.loads(response.content)
    assert pack["contact"]["id"] == history.alice.public_id
    assert pack["contact"]["phone"] == mask_phone(history.alice_phone) and pack["contact"]["phone_is_masked"]
    # and the notice the opt-ins referenced, with its digest checked
    assert [n["version"] for n in pack["notices"]] and all(n["matches"] for n in pack["notices"])
    # and every consent event with evidence and its inclusion proof against the signed
    # checkpoint the pack carries, verified here and by the last full run
    events = pack["consent_events"]
    assert [e["action"] for e in events] == ["opt_in", "opt_in", "opt_out", "opt_out"]  # the last by the complaint's outcome
    assert events[0]["evidence"]["ip"] == "203.0.113.7" and events[0]["evidence_state"] == "present"
    assert pack["ledger_checkpoint"]["signature_verified"] and pack["pack_version"] == 2
    stored = {e.public_id: e for e in ConsentEvent.objects.filter(contact=history.alice)}
    for event in events:
        assert event["sequence"] == stored[event["event_id"]].sequence
        assert event["checks"]["leaf_matches_log"] and event["checks"]["inclusion_verified"]
        assert event["checks"]["verified"] is True
    # and anyone with the verifier key can check those proofs with the auditors' script alone
    saved = tmp_path / "pack.json"
    saved.write_bytes(response.content)
    script = subprocess.run([sys.executable, str(ROOT / "scripts/verify_receipt.py"), str(saved),
                             pack["ledger_checkpoint"]["verifier_key"]], capture_output=True, text=True, check=False)
    assert script.returncode == 0, script.stdout + script.stderr
    assert script.stdout.count("OK ev_") == len(events)
    # and messages with the consent in force when they left
    by_status: dict[str, list[dict[str, Any]]] = {}
    for m in pack["messages"]:
        by_status.setdefault(m["status"], []).append(m)
    read = by_status["read"][0]
    assert read["consent_in_force"]["status"] == "opted_in" and read["verdict_level"] == "ok"
    after_stop = by_status["sent"][0]
    assert after_stop["consent_in_force"]["status"] == "opted_out"
    assert after_stop["verdict_level"] == "warning"
    assert by_status["suppressed"][0]["verdict_level"] == "ok"
    assert pack["summary"]["messages_flagged"] == 1
    # and no full number anywhere in it
    assert not _holds_a_number(response.content.decode())


def test_pack_flags_an_event_whose_evidence_was_altered(client_as):
    # given alice's first opt-in evidence changed behind the ledger's back
    history = seed_compliance_history()
    first = ConsentEvent.objects.filter(contact=history.alice).order_by("sequence").first()
    assert first is not None
    ConsentEvidence.objects.filter(event=first).update(data={"ip": "198.51.100.1"})
    # when the pack is opened
    pack = json.loads(client_as("officer").get(_pack_url(history.alice, json_=True)).content)
    # then that event is shown as not intact, the others still are
    checks = {e["sequence"]: e["checks"] for e in pack["consent_events"]}
    assert checks[first.sequence]["evidence_matches"] is False
    assert checks[first.sequence]["intact"] is False and checks[first.sequence]["verified"] is False
    assert all(c["intact"] for s, c in checks.items() if s != first.sequence)


def test_pack_detects_an_event_altered_in_the_database(client_as):
    # given an event's purpose rewritten in SQL, past the append-only trigger
    history = seed_compliance_history()
    event = ConsentEvent.objects.filter(contact=history.bala).order_by("sequence").first()
    assert event is not None
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # what a superuser could do
        try:
            cursor.execute("UPDATE consent_consentevent SET source = 'import' WHERE id = %s", [event.pk])
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
    # when the pack is opened
    html = client_as("officer").get(_pack_url(history.bala)).content.decode()
    pack = json.loads(client_as("officer").get(_pack_url(history.bala, json_=True)).content)
    # then the event's content no longer matches its leaf, nor its proof the signed root, and
    # the page says BROKEN
    check = next(e["checks"] for e in pack["consent_events"] if e["sequence"] == event.sequence)
    assert check["leaf_matches_log"] is False and check["inclusion_verified"] is False and check["intact"] is False
    assert "BROKEN" in html and "content does not match its leaf in the log" in html


def test_pack_of_an_erased_customer_keeps_the_chain_but_no_personal_data(client_as):
    # given chitra, erased
    history = seed_compliance_history()
    client = client_as("officer")
    # when the officer looks her up by the number she gives and opens the pack
    response = client.post(LOOKUP, {"phone": history.chitra_phone})
    pack = json.loads(client.get(response["Location"] + "pack.json").content)
    # then the pack has no number, evidence is gone, and the chain still verifies
    assert pack["contact"]["erased"] is True and pack["contact"]["phone"] == ""
    assert pack["contact"]["phone_digest"] == history.chitra.phone_digest
    assert {e["action"] for e in pack["consent_events"]} == {"opt_in", "erase"}
    assert all(e["checks"]["intact"] and e["checks"]["verified"] for e in pack["consent_events"])


def test_pack_page_is_printable_and_links_its_json(client_as):
    history = seed_compliance_history()
    html = client_as("officer").get(_pack_url(history.alice)).content.decode()
    assert "@media print" in html
    assert f'href="{_pack_url(history.alice, json_=True)}"' in html
    assert 'id="events-table"' in html and 'id="messages-table"' in html
    assert "Sent without consent in force" in html


def test_unknown_or_malformed_contact_id_is_404(client_as):
    client = client_as("officer")
    assert client.get("/admin/compliance/evidence/c_00000000000000000000000000000000/").status_code == 404
    assert client.get("/admin/compliance/evidence/not-an-id/").status_code == 404


# --- The complaints register ---------------------------------------------------------------------


def test_complaints_register_lists_the_range_with_sla_breaches_and_masked_numbers_only(client_as, staff):
    # given alice's resolved complaint and bala's overdue one (received 10 days ago, clocks breached)
    history = seed_compliance_history()
    officer = staff("officer")
    client = otp_force_login(Client(), officer)
    # when the officer exports the register for the default range
    response = client.get(REGISTER)
    body = _body(response)
    rows = {r["reference"]: r for r in csv.DictReader(io.StringIO(body))}
    # then both complaints are there with their status, outcome and breach flags
    assert response.status_code == 200 and isinstance(response, StreamingHttpResponse)
    resolved = next(r for r in rows.values() if r["status"] == "resolved")
    overdue = next(r for r in rows.values() if r["status"] != "resolved")
    assert resolved["outcome"] == "opt_out_not_honoured_fixed" and resolved["category"] == "unwanted_messages"
    assert resolved["first_response_breached"] == "False" and resolved["resolution_breached"] == "False"
    assert overdue["category"] == "privacy" and overdue["channel"] == "email"
    assert overdue["first_response_breached"] == "True"
    # and the customer appears only as a masked number (spreadsheet-safe), nothing else personal
    assert resolved["phone"] == "'" + mask_phone(history.alice_phone)
    assert not _holds_a_number(body)
    assert "Why do you have my number?" not in body
    # and the export is audited
    entry = _access_entries("exported complaints register CSV")[-1]
    assert entry.actor == officer


def test_pack_lists_the_customers_complaints_with_outcome_and_timeline(client_as):
    # given alice's complaint, resolved with an outcome
    history = seed_compliance_history()
    # when her pack is downloaded
    pack = json.loads(client_as("auditor").get(_pack_url(history.alice, json_=True)).content)
    # then it holds the complaint, its outcome, no breach and its timeline
    [complaint] = pack["complaints"]
    assert complaint["reference"].startswith("CMP-")
    assert complaint["outcome"] == "opt_out_not_honoured_fixed" and complaint["status"] == "resolved"
    assert complaint["breaches"] == []
    assert complaint["timeline"][0]["kind"] == "created"
    assert any(a["to_status"] == "resolved" for a in complaint["timeline"])
    assert pack["summary"]["complaints"] == 1
