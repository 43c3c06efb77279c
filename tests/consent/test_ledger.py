"""The consent ledger: hash chain, tamper evidence, append-only trigger, concurrent appends."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction

from consent.models import ConsentEvent, ConsentEvidence, ConsentState, LedgerVerification
from consent.services import consent_erase, consent_ledger_verify, consent_opt_in, consent_opt_out
from consent.types import Actor

PHONE = "+919227021270"


def build_ledger(notices: Any, actor: Actor, n: int = 3) -> list[ConsentEvent]:
    for i in range(n):
        consent_opt_in(phone=f"+9198765000{i:02d}", purposes=["marketing", "order_updates"],
                       notice=notices["en"], source="checkout", actor=actor, evidence={"ip": f"203.0.113.{i}"})
    consent_opt_out(phone="+919876500000", purposes=["marketing"], source="whatsapp", actor=actor)
    return list(ConsentEvent.objects.order_by("sequence"))


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


@pytest.mark.django_db
def test_intact_ledger_verifies_with_exit_0_and_the_run_is_recorded(notices, actor, capsys):
    # given
    events = build_ledger(notices, actor)
    # when
    code, output = run_verify(capsys)
    # then
    assert code == 0, output
    assert f"{len(events)} events verified" in output
    run = LedgerVerification.objects.get()
    assert run.ok and run.events_checked == len(events) and run.head_sequence == events[-1].sequence


@pytest.mark.django_db
def test_empty_ledger_verifies(capsys):
    assert run_verify(capsys)[0] == 0


@pytest.mark.django_db
def test_an_update_in_sql_is_detected_and_named(notices, actor, capsys):
    # given an intact ledger
    events = build_ledger(notices, actor)
    victim = events[3]
    # when someone flips an opt-in to an opt-out directly in the database
    sql("UPDATE consent_consentevent SET action = 'opt_out' WHERE id = %s", [victim.pk])
    # then verification fails naming that event
    code, output = run_verify(capsys)
    assert code == 1
    assert f"#{victim.sequence}" in output and victim.public_id in output
    assert "altered" in output
    run = LedgerVerification.objects.get()
    assert not run.ok and run.first_bad_sequence == victim.sequence


@pytest.mark.django_db
def test_a_changed_timestamp_is_detected(notices, actor, capsys):
    events = build_ledger(notices, actor)
    sql("UPDATE consent_consentevent SET occurred_at = occurred_at - interval '1 day' WHERE id = %s", [events[1].pk])
    code, output = run_verify(capsys)
    assert code == 1 and f"#{events[1].sequence}" in output


@pytest.mark.django_db
def test_a_recomputed_hash_still_breaks_the_chain(notices, actor, capsys):
    # given an attacker who alters an event and recomputes its hash
    from consent.ledger import CHAINED_FIELDS, event_hash

    events = build_ledger(notices, actor)
    victim = events[2]
    fields = dict(ConsentEvent.objects.filter(pk=victim.pk).values(*CHAINED_FIELDS).get())
    fields["purpose"] = "support"
    sql("UPDATE consent_consentevent SET purpose = 'support', hash = %s WHERE id = %s",
        [event_hash(fields), victim.pk])
    # when / then the next event no longer chains to it
    code, output = run_verify(capsys)
    assert code == 1
    assert f"#{victim.sequence + 1}" in output and "does not chain" in output


@pytest.mark.django_db
def test_a_deleted_row_is_detected(notices, actor, capsys):
    events = build_ledger(notices, actor)
    sql("DELETE FROM consent_consentevidence WHERE event_id = %s", [events[2].pk], bypass_trigger=False)
    sql("UPDATE consent_consentstate SET last_event_id = %s WHERE last_event_id = %s", [events[0].pk, events[2].pk],
        bypass_trigger=False)
    sql("DELETE FROM consent_consentevent WHERE id = %s", [events[2].pk])
    code, output = run_verify(capsys)
    assert code == 1
    assert f"#{events[2].sequence} is missing" in output and f"#{events[3].sequence}" in output


@pytest.mark.django_db
def test_reordered_rows_are_detected(notices, actor, capsys):
    # given two events whose positions are swapped
    events = build_ledger(notices, actor)
    a, b = events[1], events[4]
    sql("UPDATE consent_consentevent SET sequence = -1 WHERE id = %s", [a.pk])
    sql("UPDATE consent_consentevent SET sequence = %s WHERE id = %s", [a.sequence, b.pk])
    sql("UPDATE consent_consentevent SET sequence = %s WHERE id = %s", [b.sequence, a.pk])
    # when / then
    code, output = run_verify(capsys)
    assert code == 1 and f"#{a.sequence}" in output


@pytest.mark.django_db
def test_rows_removed_at_the_end_are_detected_against_the_last_run(notices, actor, capsys):
    # given a verified ledger
    events = build_ledger(notices, actor)
    assert run_verify(capsys)[0] == 0
    # when its last event is removed (the chain up to there is still consistent)
    last = events[-1]
    sql("DELETE FROM consent_consentevidence WHERE event_id = %s", [last.pk], bypass_trigger=False)
    sql("DELETE FROM consent_consentstate WHERE last_event_id = %s", [last.pk], bypass_trigger=False)
    sql("DELETE FROM consent_consentevent WHERE id = %s", [last.pk])
    # then
    code, output = run_verify(capsys)
    assert code == 1 and "rows removed at the end" in output


@pytest.mark.django_db
def test_altered_evidence_is_detected(notices, actor, capsys):
    events = build_ledger(notices, actor)
    ConsentEvidence.objects.filter(event=events[0]).update(data={"ip": "10.0.0.1"})
    code, output = run_verify(capsys)
    assert code == 1 and "evidence" in output


@pytest.mark.django_db
def test_erasure_keeps_the_chain_verifiable(notices, actor, capsys):
    # given a ledger with personal evidence
    build_ledger(notices, actor)
    # when the customer is erased
    consent_erase(phone="+919876500000", actor=actor)
    # then the evidence is gone and the chain still verifies (erasure is itself in the ledger)
    held = ConsentEvidence.objects.filter(event__contact__phone_digest__isnull=False, data__isnull=False)
    assert not [e for e in held if e.data.get("ip") == "203.0.113.0"]  # evidence is ciphertext: read it
    assert ConsentEvent.objects.filter(action="erase").count() == 4
    assert run_verify(capsys)[0] == 0


@pytest.mark.django_db
@pytest.mark.parametrize("statement", ["UPDATE consent_consentevent SET action = 'opt_out'",
                                       "DELETE FROM consent_consentevent"])
def test_the_database_refuses_update_and_delete(notices, actor, statement):
    # given
    build_ledger(notices, actor, n=1)
    # when / then
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

CONCURRENT_REQUESTS = 50


@pytest.mark.django_db(transaction=True)
def test_50_concurrent_opt_in_and_opt_out_requests_keep_one_chain(api_key, capsys):
    # given a published notice and a known contact
    from rest_framework.test import APIClient

    from consent.seed import seed_notices

    seed_notices()
    key = api_key[1]
    barrier = threading.Barrier(CONCURRENT_REQUESTS)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def request(i: int) -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
            barrier.wait(timeout=30)
            if i % 2:
                response = client.post("/api/v1/consents/opt-out", {"phone": PHONE, "purposes": ["marketing"],
                                                                   "source": "account_settings"}, format="json")
            else:
                response = client.post("/api/v1/consents/opt-in", {
                    "phone": PHONE, "purposes": ["marketing"], "notice_version": "2026-11-01-en",
                    "source": "checkout"}, format="json")
            statuses.append(response.status_code)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()  # each thread has its own connection

    # when 50 requests race on the same number (and the same new contact)
    threads = [threading.Thread(target=request, args=(i,)) for i in range(CONCURRENT_REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # then no request failed, the ledger is one valid chain, the state is the last event's
    assert not errors, errors
    assert Counter(statuses) == {201: 25, 200: 25}
    assert ConsentEvent.objects.count() == CONCURRENT_REQUESTS
    assert list(ConsentEvent.objects.order_by("sequence").values_list("sequence", flat=True)) == list(
        range(1, CONCURRENT_REQUESTS + 1)
    )
    code, output = run_verify(capsys)
    assert code == 0, output
    last = ConsentEvent.objects.order_by("-sequence").first()
    assert last is not None
    state = ConsentState.objects.get(purpose="marketing")
    assert state.last_event_id == last.pk
    assert state.status == ("opted_in" if last.action == "opt_in" else "opted_out")


def test_consent_ledger_verify_service_records_a_failed_run(db, notices, actor):
    # given a tampered ledger
    events = build_ledger(notices, actor, n=1)
    sql("UPDATE consent_consentevent SET source = 'import' WHERE id = %s", [events[0].pk])
    # when
    run = consent_ledger_verify(triggered_by="test")
    # then
    assert not run.ok and run.first_bad_event == events[0].public_id and run.triggered_by == "test"
