"""Registered consent managers (API.md "Consent managers"; DPDP Act s.6(7)-(9), Rules r.4):
keys bound to one manager, grant and withdraw by artefact, once per artefact and action, the
withdrawal in force before the answer, artefacts readable only by their manager, the ledger and
the evidence pack naming the manager and the artefact."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from consent.managers import consent_manager_key_bind, consent_manager_register
from consent.models import ConsentArtefactAction, ConsentEvent, ConsentEvidence, ConsentManager, Contact
from consent.selectors import consent_decision_for_phone
from consent.services.erasure import consent_erase
from consent.services.optin import consent_opt_in
from consent.types import Actor
from pandorakart_wa.backoffice.evidence import evidence_pack
from pandorakart_wa.core.api.keys import api_key_create
from pandorakart_wa.core.models import ApiScope, StorefrontApiKey

pytestmark = pytest.mark.django_db

PHONE = "+919812345678"
EVENTS = "/api/v1/consent-manager/events"


def manager_client(registration_id: str = "CM-2026-0001", *, scopes: tuple[str, ...] = (ApiScope.CONSENT_MANAGER,),
                   active: bool = True) -> APIClient:
    manager = ConsentManager.objects.filter(registration_id=registration_id).first() or consent_manager_register(
        registration_id=registration_id, name=f"Manager {registration_id}", actor=Actor.system("test"), active=active)
    api_key, key = api_key_create(name=f"key of {registration_id}", scopes=scopes)
    consent_manager_key_bind(api_key=api_key, registration_id=manager.registration_id)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def grant(**overrides: Any) -> dict[str, Any]:
    body = {"artefact_id": "cm-7f3a01", "phone": PHONE, "action": "grant", "purposes": ["marketing", "order_updates"],
            "notice_version": "2026-11-01-en", "occurred_at": "2026-11-27T10:00:00+05:30"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def withdraw(**overrides: Any) -> dict[str, Any]:
    body = {"artefact_id": "cm-7f3a01", "action": "withdraw"}
    body.update(overrides)
    return body


@pytest.fixture
def cm(notices: Any) -> APIClient:
    return manager_client()


# --- grant ----------------------------------------------------------------------------------------


def test_grant_records_consent_with_the_manager_and_artefact_in_the_ledger(cm):
    # when the consent manager posts a grant
    response = cm.post(EVENTS, grant(), format="json")
    # then 201 with a receipt as opt-in gives, and the consent is in force
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["purposes"]["marketing"]["status"] == "opted_in"
    assert body["purposes"]["marketing"]["source"] == "consent_manager"
    assert (body["artefact_id"], body["action"], body["consent_manager"], body["replayed"]) == (
        "cm-7f3a01", "grant", "CM-2026-0001", False)
    assert body["phone"] == "+91******5678"
    assert len(body["receipt"]) == 2
    assert consent_decision_for_phone(PHONE, "marketing").allowed
    # and each ledger event names the manager and the artefact in its leaf fields and evidence
    events = ConsentEvent.objects.filter(uid__in=[r.removeprefix("ev_") for r in body["receipt"]])
    assert {(e.source, e.actor_type, e.actor_id, e.actor_label, e.notice_version) for e in events} == {
        ("consent_manager", "consent_manager", "CM-2026-0001", "artefact cm-7f3a01", "2026-11-01-en")}
    evidence = ConsentEvidence.objects.get(event=events[0]).data
    assert (evidence["consent_manager"], evidence["artefact_id"]) == ("CM-2026-0001", "cm-7f3a01")


def test_the_same_grant_again_answers_the_first_receipt_and_writes_nothing(cm):
    first = cm.post(EVENTS, grant(), format="json").json()
    count = ConsentEvent.objects.count()
    # when the manager retries (even with another body)
    again = cm.post(EVENTS, grant(purposes=["support"]), format="json")
    # then 200, the first receipt, nothing written twice
    assert again.status_code == 200
    assert again.json()["receipt"] == first["receipt"]
    assert again.json()["replayed"] is True
    assert ConsentEvent.objects.count() == count
    assert ConsentArtefactAction.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (grant(phone=None, purposes=None, notice_version=None), {"phone", "purposes", "notice_version"}),
        (grant(notice_version="2020-01-01-en"), {"notice_version"}),
        (grant(purposes=["lottery"]), {"purposes"}),
        (grant(phone="12345"), {"phone"}),
        (grant(action="revoke"), {"action"}),
        (grant(artefact_id=""), {"artefact_id"}),
        (grant(occurred_at="2999-01-01T00:00:00+00:00"), {"occurred_at"}),
    ],
)
def test_bad_input_names_each_field_and_writes_nothing(cm, body, fields):
    response = cm.post(EVENTS, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert set(response.json()["fields"]) == fields
    assert not ConsentEvent.objects.exists()


def test_an_artefact_id_with_a_slash_or_spaces_is_refused(cm):
    response = cm.post(EVENTS, grant(artefact_id="cm/../x y"), format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"artefact_id"}


# --- withdraw -------------------------------------------------------------------------------------


def test_withdrawal_is_in_force_before_the_answer_and_once(cm):
    cm.post(EVENTS, grant(), format="json")
    # when the manager withdraws the artefact (no phone, no purposes: the grant's)
    response = cm.post(EVENTS, withdraw(), format="json")
    # then the purposes of the artefact are withdrawn by the time the answer arrives
    assert response.status_code == 201, response.json()
    assert consent_decision_for_phone(PHONE, "marketing").reason == "opted_out"
    assert consent_decision_for_phone(PHONE, "order_updates").reason == "opted_out"
    body = response.json()
    assert body["action"] == "withdraw" and len(body["receipt"]) == 2
    out = ConsentEvent.objects.filter(action="opt_out")
    assert {(e.source, e.actor_id, e.actor_label) for e in out} == {
        ("consent_manager", "CM-2026-0001", "artefact cm-7f3a01")}
    # and again: the first receipt, nothing more
    count = ConsentEvent.objects.count()
    again = cm.post(EVENTS, withdraw(), format="json")
    assert again.status_code == 200 and again.json()["receipt"] == body["receipt"]
    assert ConsentEvent.objects.count() == count


def test_a_grant_after_the_withdrawal_is_refused(cm):
    cm.post(EVENTS, grant(artefact_id="cm-late"), format="json")
    cm.post(EVENTS, withdraw(artefact_id="cm-late"), format="json")
    # a withdrawal that arrived before its grant also wins
    cm.post(EVENTS, withdraw(artefact_id="cm-early", phone=PHONE, purposes=["support"]), format="json")
    response = cm.post(EVENTS, grant(artefact_id="cm-early", purposes=["support"]), format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "artefact_withdrawn"
    assert consent_decision_for_phone(PHONE, "support").reason == "opted_out"


def test_withdrawing_an_artefact_never_granted_needs_the_phone_and_defaults_to_every_purpose(cm, notices):
    consent_opt_in(phone=PHONE, purposes=["marketing"], notice=notices["en"], source="checkout",
                   actor=Actor.system("test"))
    refused = cm.post(EVENTS, withdraw(artefact_id="cm-unknown"), format="json")
    assert refused.status_code == 400 and set(refused.json()["fields"]) == {"phone"}
    response = cm.post(EVENTS, withdraw(artefact_id="cm-unknown", phone="09812345678"), format="json")
    assert response.status_code == 201
    assert {p["status"] for p in response.json()["purposes"].values()} == {"opted_out"}


def test_withdrawal_for_another_number_than_the_grant_is_refused(cm):
    cm.post(EVENTS, grant(), format="json")
    response = cm.post(EVENTS, withdraw(phone="+919876500000"), format="json")
    assert response.status_code == 400 and set(response.json()["fields"]) == {"phone"}
    assert consent_decision_for_phone(PHONE, "marketing").allowed


def test_withdrawal_after_erasure_writes_nothing_and_is_recorded(cm):
    cm.post(EVENTS, grant(), format="json")
    consent_erase(phone=PHONE, actor=Actor.system("test"))
    count = ConsentEvent.objects.count()
    response = cm.post(EVENTS, withdraw(), format="json")
    assert response.status_code == 201
    assert response.json()["receipt"] == []
    assert ConsentEvent.objects.count() == count
    assert consent_decision_for_phone(PHONE, "marketing").reason == "contact_erased"


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_grants_are_written_once(notices):
    from consent.seed import seed_notices

    seed_notices()
    client = manager_client("CM-RACE")
    answers: list[int] = []

    def post() -> None:
        try:
            answers.append(client.post(EVENTS, grant(artefact_id="cm-race"), format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 200, 200, 201]
    assert ConsentEvent.objects.filter(source="consent_manager").count() == 2
    assert ConsentArtefactAction.objects.count() == 1


# --- reading an artefact --------------------------------------------------------------------------


def test_artefact_state_is_readable_by_its_manager_only(cm):
    cm.post(EVENTS, grant(), format="json")
    url = "/api/v1/consent-manager/artefacts/cm-7f3a01"
    # the manager reads it: active, its purposes and ledger events
    response = cm.get(url)
    assert response.status_code == 200
    body = response.json()
    assert (body["artefact_id"], body["status"]) == ("cm-7f3a01", "active")
    assert sorted(body["purposes"]) == ["marketing", "order_updates"]
    assert {e["action"] for e in body["events"]} == {"opt_in"}
    assert body["phone"] == "+91******5678"
    cm.post(EVENTS, withdraw(), format="json")
    body = cm.get(url).json()
    assert body["status"] == "withdrawn"
    assert [e["action"] for e in body["events"]] == ["opt_in", "opt_in", "opt_out", "opt_out"]
    assert body["withdrawn_at"] is not None
    # another manager, even with a valid key, sees nothing
    other = manager_client("CM-2026-0002")
    assert other.get(url).status_code == 404
    assert other.get(url).json()["code"] == "not_found"
    assert cm.get("/api/v1/consent-manager/artefacts/cm-nothing").status_code == 404


def test_keys_must_be_bound_to_an_active_manager_with_the_scope(notices, api_client):
    body = grant()
    # no key
    assert APIClient().post(EVENTS, body, format="json").status_code == 401
    # the storefront's key (every scope) is bound to no manager
    response = api_client.post(EVENTS, body, format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert api_client.get("/api/v1/consent-manager/artefacts/cm-7f3a01").status_code == 403
    # a manager's key without the consent_manager scope
    assert manager_client("CM-SCOPE", scopes=(ApiScope.CONSENT,)).post(EVENTS, body, format="json").status_code == 403
    # an inactive manager's key
    inactive = manager_client("CM-OFF", active=False)
    assert inactive.post(EVENTS, body, format="json").status_code == 403
    assert not ConsentEvent.objects.exists()


# --- set-up by commands ---------------------------------------------------------------------------


def test_register_and_create_a_bound_key_with_the_commands(notices):
    out = io.StringIO()
    call_command("register_consent_manager", "CM-CLI-9", "Sahmati Consents Pvt Ltd", stdout=out)
    assert "Registered consent manager CM-CLI-9" in out.getvalue()
    out = io.StringIO()
    call_command("create_api_key", "sahmati-prod", "--scope", "consent_manager", "--consent-manager", "CM-CLI-9",
                 stdout=out, stderr=io.StringIO())
    key = out.getvalue().strip().splitlines()[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = client.post(EVENTS, grant(), format="json")
    assert response.status_code == 201
    assert response.json()["consent_manager"] == "CM-CLI-9"
    # --consent-manager alone gives the consent_manager scope only
    out = io.StringIO()
    call_command("create_api_key", "sahmati-2", "--consent-manager", "CM-CLI-9", stdout=out, stderr=io.StringIO())
    assert StorefrontApiKey.objects.get(name="sahmati-2").scopes == ["consent_manager"]


def test_commands_refuse_bad_set_up_and_leave_no_key(db):
    with pytest.raises(CommandError, match="registration_id"):
        call_command("register_consent_manager", " ", "Nobody", stdout=io.StringIO())
    call_command("register_consent_manager", "CM-DUP", "One", stdout=io.StringIO())
    with pytest.raises(CommandError, match="already registered"):
        call_command("register_consent_manager", "cm-dup", "Two", stdout=io.StringIO())
    with pytest.raises(CommandError, match="No consent manager is registered"):
        call_command("create_api_key", "ghost", "--consent-manager", "CM-NONE", stdout=io.StringIO(),
                     stderr=io.StringIO())
    with pytest.raises(CommandError, match="--scope consent_manager"):
        call_command("create_api_key", "wrong", "--scope", "consent", "--consent-manager", "CM-DUP",
                     stdout=io.StringIO(), stderr=io.StringIO())
    assert not StorefrontApiKey.objects.filter(name__in=["ghost", "wrong"]).exists()


# --- evidence pack ----------------------------------------------------------------------------------


def test_the_evidence_pack_names_the_manager_and_the_artefact(cm):
    cm.post(EVENTS, grant(), format="json")
    cm.post(EVENTS, withdraw(), format="json")
    pack = evidence_pack(Contact.objects.get(), full_phone=False)
    artefacts = pack["consent_manager_artefacts"]
    assert [(a["consent_manager"], a["artefact_id"], a["action"]) for a in artefacts] == [
        ("CM-2026-0001", "cm-7f3a01", "grant"), ("CM-2026-0001", "cm-7f3a01", "withdraw")]
    assert len(artefacts[1]["events"]) == 2
    refs = {(e["action"], str(e["consent_manager"])) for e in pack["consent_events"]}
    assert refs == {("opt_in", str({"registration_id": "CM-2026-0001", "artefact_id": "cm-7f3a01"})),
                    ("opt_out", str({"registration_id": "CM-2026-0001", "artefact_id": "cm-7f3a01"}))}
    assert pack["summary"]["consent_manager_actions"] == 2


def test_manager_events_are_sequenced_proved_and_verified_with_the_rest_of_the_ledger(
    cm, django_capture_on_commit_callbacks
):
    from consent.log import ledger_sequence
    from consent.services.verification import consent_ledger_verify

    receipt = cm.post(EVENTS, grant(), format="json").json()["receipt"]
    cm.post(EVENTS, withdraw(), format="json")
    with django_capture_on_commit_callbacks(execute=True):
        ledger_sequence(force_checkpoint=True)
    # the auditor's proof of a manager's event carries the manager and the artefact in its leaf
    _, auditor_key = api_key_create(name="auditor", scopes=[ApiScope.LEDGER])
    auditor = APIClient()
    auditor.credentials(HTTP_AUTHORIZATION=f"Api-Key {auditor_key}")
    proof = auditor.get(f"/api/v1/ledger/proof/{receipt[0]}")
    assert proof.status_code == 200, proof.json()
    assert "CM-2026-0001" in str(proof.json()) and "artefact cm-7f3a01" in str(proof.json())
    run = consent_ledger_verify(triggered_by="test")
    assert run.ok, run.problem
    assert run.events_checked == ConsentEvent.objects.count() == 4
