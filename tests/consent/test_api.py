"""The storefront's consent and privacy API (API.md, Consent): behaviour and every error."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from consent.hooks import privacy_exporters
from consent.models import ConsentEvent, ConsentEvidence, ConsentNotice, ConsentState, Contact
from pandorakart_wa.core.api.keys import api_key_create
from pandorakart_wa.core.models import ApiScope
from tests.consent.factories import NoticeFactory

pytestmark = pytest.mark.django_db

PHONE = "+919227021270"


def opt_in_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "phone": PHONE,
        "purposes": ["order_updates", "marketing"],
        "notice_version": "2026-11-01-en",
        "source": "checkout",
        "evidence": {"ip": "203.0.113.9", "user_agent": "Mozilla/5.0", "page_url": "https://pandorakart.com/checkout",
                     "checkbox_text": "Send me order updates and offers on WhatsApp"},
        "occurred_at": "2026-11-27T10:00:00+05:30",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def nothing_written() -> bool:
    return not (Contact.objects.exists() or ConsentEvent.objects.exists() or ConsentState.objects.exists())


def client_with(*scopes: str) -> APIClient:
    _, key = api_key_create(name="scoped", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


# --- opt-in -------------------------------------------------------------------------------


def test_opt_in_records_each_purpose_and_returns_state_with_receipt(api_client, notices):
    # given the published English notice
    # when the storefront records a checkout opt-in
    response = api_client.post("/api/v1/consents/opt-in", opt_in_body(), format="json")
    # then one ledger event per purpose, and the state says opted in under that notice
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["contact"].startswith("c_")
    assert body["phone"] == "+91******1270"
    assert body["purposes"]["marketing"]["status"] == "opted_in"
    assert body["purposes"]["marketing"]["notice_version"] == "2026-11-01-en"
    assert body["purposes"]["order_updates"]["status"] == "opted_in"
    assert body["purposes"]["account_security"] == {"status": "none"}
    assert body["purposes"]["support"] == {"status": "none"}
    assert body["blocked"] is False and body["erased"] is False
    assert len(body["receipt"]) == 2
    assert [h["event"] for h in body["history"]] == body["receipt"]
    assert body["history"][0]["occurred_at"] == "2026-11-27T04:30:00Z"
    events = list(ConsentEvent.objects.order_by("sequence"))
    assert [e.purpose for e in events] == ["order_updates", "marketing"]
    assert all(e.actor_type == "api_key" and e.source == "checkout" for e in events)
    assert ConsentEvidence.objects.get(event=events[0]).data["ip"] == "203.0.113.9"


@pytest.mark.parametrize("phone", ["09227021270", "9227021270", "919227021270", "+91 92270 21270"])
def test_opt_in_accepts_national_and_wa_id_formats_as_one_contact(api_client, notices, phone):
    # given a contact created with the E.164 number
    api_client.post("/api/v1/consents/opt-in", opt_in_body(purposes=["marketing"]), format="json")
    # when the same number arrives in another accepted format
    response = api_client.post("/api/v1/consents/opt-in", opt_in_body(phone=phone), format="json")
    # then it is the same contact
    assert response.status_code == 201
    assert Contact.objects.count() == 1


def test_opt_in_stores_the_number_encrypted(api_client, notices):
    # when
    api_client.post("/api/v1/consents/opt-in", opt_in_body(), format="json")
    # then the column holds ciphertext, not the number
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT phone FROM consent_contact")
        (stored,) = cursor.fetchone()
    assert "9227021270" not in stored
    assert Contact.objects.get().phone == PHONE


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "+91 00000 00000"}, "phone"),
        ({"phone": ""}, "phone"),
        ({"purposes": []}, "purposes"),
        ({"purposes": ["marketing", "spam"]}, "purposes"),
        ({"purposes": "marketing"}, "purposes"),
        ({"notice_version": "2099-01-01-en"}, "notice_version"),
        ({"source": "fax"}, "source"),
        ({"evidence": {"blob": "x" * 9000}}, "evidence"),
        ({"evidence": "not an object"}, "evidence"),
        ({"occurred_at": (timezone.now() + timedelta(hours=1)).isoformat()}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
    ],
)
def test_opt_in_bad_field_is_a_400_naming_it_and_writes_nothing(api_client, notices, overrides, field):
    # when
    response = api_client.post("/api/v1/consents/opt-in", opt_in_body(**overrides), format="json")
    # then
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["fields"]) == [field]
    assert nothing_written()


@pytest.mark.parametrize("missing", ["phone", "purposes", "notice_version", "source"])
def test_opt_in_missing_required_field_is_named(api_client, notices, missing):
    body = opt_in_body()
    del body[missing]
    response = api_client.post("/api/v1/consents/opt-in", body, format="json")
    assert response.status_code == 400
    assert missing in response.json()["fields"]
    assert nothing_written()


def test_opt_in_unpublished_notice_is_refused(api_client, notices):
    # given a draft notice
    NoticeFactory(version="2026-12-01-en", published_at=None)
    # when
    response = api_client.post("/api/v1/consents/opt-in", opt_in_body(notice_version="2026-12-01-en"), format="json")
    # then
    assert response.status_code == 400
    assert "not published" in response.json()["fields"]["notice_version"][0]
    assert nothing_written()


def test_opt_in_names_every_bad_field_at_once(api_client, notices):
    response = api_client.post(
        "/api/v1/consents/opt-in",
        opt_in_body(phone="123", purposes=["spam"], notice_version="nope", source="fax",
                    evidence={"x": "y" * 9000}, occurred_at="2999-01-01T00:00:00Z"),
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"phone", "purposes", "notice_version", "source", "evidence",
                                              "occurred_at"}
    assert nothing_written()


def test_opt_in_evidence_of_exactly_the_limit_is_accepted(api_client, notices):
    # given evidence whose compact JSON is exactly 8 KiB ({"b":"..."} is 8 bytes of overhead)
    evidence = {"b": "x" * (8 * 1024 - 8)}
    # when / then
    response = api_client.post("/api/v1/consents/opt-in", opt_in_body(evidence=evidence), format="json")
    assert response.status_code == 201


def test_malformed_json_is_a_400(api_client, notices):
    response = api_client.post("/api/v1/consents/opt-in", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert nothing_written()


def test_without_a_key_is_401_and_with_the_wrong_scope_403(anon_client, notices):
    # when there is no key
    response = anon_client.post("/api/v1/consents/opt-in", opt_in_body(), format="json")
    # then
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    # when the key may only read the profile
    response = client_with(ApiScope.PROFILE).post("/api/v1/consents/opt-in", opt_in_body(), format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert nothing_written()


# --- opt-out ------------------------------------------------------------------------------


def test_opt_out_of_an_unknown_number_records_it_suppressed(api_client):
    # when a number never seen opts out (purposes omitted: every purpose)
    response = api_client.post("/api/v1/consents/opt-out", {"phone": PHONE, "source": "account_settings",
                                                           "reason": "too many messages"}, format="json")
    # then it is recorded, opted out of everything
    assert response.status_code == 200, response.json()
    body = response.json()
    assert {p: s["status"] for p, s in body["purposes"].items()} == dict.fromkeys(
        ["order_updates", "account_security", "marketing", "support"], "opted_out"
    )
    assert len(body["receipt"]) == 4
    assert [e.data.get("reason") for e in ConsentEvidence.objects.all()] == ["too many messages"] * 4


def test_opt_out_of_one_purpose_leaves_the_others(api_client, notices):
    # given
    api_client.post("/api/v1/consents/opt-in", opt_in_body(), format="json")
    # when
    response = api_client.post("/api/v1/consents/opt-out", {"phone": "09227021270", "purposes": ["marketing"],
                                                           "source": "account_settings"}, format="json")
    # then
    body = response.json()
    assert response.status_code == 200
    assert body["purposes"]["marketing"]["status"] == "opted_out"
    assert body["purposes"]["marketing"]["source"] == "account_settings"
    assert body["purposes"]["order_updates"]["status"] == "opted_in"


def test_opt_out_source_defaults_to_account_settings(api_client):
    response = api_client.post("/api/v1/consents/opt-out", {"phone": PHONE}, format="json")
    assert response.status_code == 200
    assert response.json()["purposes"]["support"]["source"] == "account_settings"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "not a phone"}, "phone"),
        ({}, "phone"),
        ({"phone": PHONE, "purposes": ["spam"]}, "purposes"),
        ({"phone": PHONE, "purposes": []}, "purposes"),
        ({"phone": PHONE, "source": "carrier pigeon"}, "source"),
        ({"phone": PHONE, "evidence": {"x": "y" * 9000}}, "evidence"),
        ({"phone": PHONE, "occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
    ],
)
def test_opt_out_bad_field_is_a_400_naming_it(api_client, body, field):
    response = api_client.post("/api/v1/consents/opt-out", body, format="json")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert nothing_written()


def test_backdated_opt_in_does_not_override_a_newer_opt_out(api_client, notices):
    # given an opt-out now
    api_client.post("/api/v1/consents/opt-out", {"phone": PHONE, "purposes": ["marketing"]}, format="json")
    # when an import arrives afterwards carrying an older consent
    response = api_client.post(
        "/api/v1/consents/opt-in",
        opt_in_body(purposes=["marketing"], source="import", occurred_at="2026-01-01T00:00:00Z"),
        format="json",
    )
    # then the event is in the ledger but the withdrawal stands
    assert response.status_code == 201
    assert response.json()["purposes"]["marketing"]["status"] == "opted_out"
    assert ConsentEvent.objects.filter(action="opt_in").count() == 1


# --- state --------------------------------------------------------------------------------


def test_state_of_a_known_number(api_client, notices):
    # given
    api_client.post("/api/v1/consents/opt-in", opt_in_body(), format="json")
    # when asked in national format
    response = api_client.get("/api/v1/consents/09227021270")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["purposes"]["marketing"]["status"] == "opted_in"
    assert [h["action"] for h in body["history"]] == ["opt_in", "opt_in"]
    assert set(body["history"][0]) == {"event", "action", "purpose", "source", "notice_version", "occurred_at",
                                       "recorded_at", "leaf_index"}


def test_state_of_an_unknown_number_is_404_and_of_a_bad_number_400(api_client):
    response = api_client.get("/api/v1/consents/+919227021270")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    response = api_client.get("/api/v1/consents/hello")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["phone"]


def test_lookup_by_post_answers_as_the_get_with_the_number_out_of_the_url(api_client, notices):
    # given
    api_client.post("/api/v1/consents/opt-in", opt_in_body(), format="json")
    # when the number travels in the body
    posted = api_client.post("/api/v1/consents/lookup", {"phone": "09227021270"}, format="json")
    # then the same document as the GET
    assert posted.status_code == 200, posted.json()
    assert posted.json() == api_client.get(f"/api/v1/consents/{PHONE}").json()
    assert posted.json()["phone"] == "+91******1270"


def test_lookup_of_an_unknown_number_is_404_and_of_a_bad_one_400(api_client):
    response = api_client.post("/api/v1/consents/lookup", {"phone": PHONE}, format="json")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert "1270" in response.json()["detail"] and PHONE not in response.json()["detail"]
    response = api_client.post("/api/v1/consents/lookup", {"phone": "hello"}, format="json")
    assert (response.status_code, list(response.json()["fields"])) == (400, ["phone"])
    response = api_client.post("/api/v1/consents/lookup", {}, format="json")
    assert (response.status_code, list(response.json()["fields"])) == (400, ["phone"])


def test_lookup_needs_the_consent_scope(notices):
    response = client_with(ApiScope.PROFILE).post("/api/v1/consents/lookup", {"phone": PHONE}, format="json")
    assert response.status_code == 403


# --- notices ------------------------------------------------------------------------------


def test_current_notice_per_language(api_client, notices):
    # when
    en = api_client.get("/api/v1/notices/current?language=en")
    hi = api_client.get("/api/v1/notices/current", {"language": "hi"})
    default = api_client.get("/api/v1/notices/current")
    # then
    assert en.status_code == 200
    assert en.json()["version"] == "2026-11-01-en"
    assert set(en.json()) >= {"version", "language", "text", "purposes", "published_at"}
    assert "Data Protection Board" in en.json()["complaint_instructions"]
    assert hi.json()["version"] == "2026-11-01-hi"
    assert "रोकें" in hi.json()["withdrawal_instructions"]
    assert default.json()["version"] == "2026-11-01-en"


def test_newer_published_notice_becomes_current_and_drafts_never_do(api_client, notices):
    # given a newer published notice and a newer draft
    newer = NoticeFactory(version="2026-11-20-en", published_at=timezone.now())
    NoticeFactory(version="2026-11-25-en", published_at=None)
    # when / then
    assert api_client.get("/api/v1/notices/current?language=en").json()["version"] == newer.version


def test_no_notice_in_a_language_is_404(api_client, notices):
    response = api_client.get("/api/v1/notices/current?language=fr")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- privacy ------------------------------------------------------------------------------


def test_erasure_removes_personal_data_and_keeps_the_number_suppressed(api_client, notices):
    # given a customer who opted in with evidence
    api_client.post("/api/v1/consents/opt-in", opt_in_body(), format="json")
    # when they ask for erasure
    response = api_client.post("/api/v1/privacy/erasure", {"phone": "09227021270"}, format="json")
    # then
    assert response.status_code == 202, response.json()
    assert response.json()["erased"] is True
    contact = Contact.objects.get()
    assert contact.phone is None and contact.wa_id is None and contact.erased
    assert contact.phone_digest  # kept: the number stays recognisable, hence suppressed
    assert not ConsentEvidence.objects.filter(data__isnull=False).exists()
    state = api_client.get(f"/api/v1/consents/{PHONE}").json()
    assert state["erased"] is True
    assert state["phone"] == "+91******1270"
    assert {s["status"] for s in state["purposes"].values()} == {"opted_out"}


def test_erasure_of_an_unknown_number_suppresses_it(api_client):
    response = api_client.post("/api/v1/privacy/erasure", {"phone": PHONE}, format="json")
    assert response.status_code == 202
    assert Contact.objects.get().erased


def test_erasure_bad_phone_is_400(api_client):
    response = api_client.post("/api/v1/privacy/erasure", {"phone": "12"}, format="json")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["phone"]
    assert nothing_written()


def test_import_cannot_revive_an_erased_number_but_the_customer_can(api_client, notices):
    # given an erased number
    api_client.post("/api/v1/privacy/erasure", {"phone": PHONE}, format="json")
    # when an import tries to opt it in
    response = api_client.post("/api/v1/consents/opt-in", opt_in_body(source="import"), format="json")
    # then policy refuses it, nothing is written
    assert response.status_code == 422
    assert response.json()["code"] == "contact_erased"
    assert not ConsentEvent.objects.filter(action="opt_in").exists()
    # when the customer opts in again at checkout
    response = api_client.post("/api/v1/consents/opt-in", opt_in_body(occurred_at=None), format="json")
    # then they are back
    assert response.status_code == 201
    assert response.json()["erased"] is False
    assert Contact.objects.get().phone == PHONE


def test_export_returns_everything_held(api_client, notices):
    # given
    api_client.post("/api/v1/consents/opt-in", opt_in_body(), format="json")
    # when
    response = api_client.get("/api/v1/privacy/export", {"phone": "9227021270"})
    # then
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["phone"] == "+91******1270"
    consent = body["consent"]
    assert consent["purposes"]["marketing"]["status"] == "opted_in"
    assert consent["history"][0]["evidence"]["ip"] == "203.0.113.9"


def test_export_by_post_keeps_the_number_out_of_the_url(api_client, notices):
    api_client.post("/api/v1/consents/opt-in", opt_in_body(), format="json")
    posted = api_client.post("/api/v1/privacy/export", {"phone": "9227021270"}, format="json")
    assert posted.status_code == 200, posted.json()
    assert posted.json() == api_client.get("/api/v1/privacy/export", {"phone": PHONE}).json()
    assert api_client.post("/api/v1/privacy/export", {"phone": "nope"}, format="json").status_code == 400
    assert client_with(ApiScope.CONSENT).post("/api/v1/privacy/export", {"phone": PHONE}, format="json").status_code == 403


def test_export_of_unknown_number_is_404_and_bad_number_400(api_client):
    assert api_client.get("/api/v1/privacy/export", {"phone": PHONE}).status_code == 404
    response = api_client.get("/api/v1/privacy/export", {"phone": "nope"})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["phone"]
    assert api_client.get("/api/v1/privacy/export").status_code == 400


def test_export_gathers_other_apps_through_the_exporter_registry(api_client, notices, replace_hooks):
    # given another app plugged an exporter in
    replace_hooks(privacy_exporters, {**dict(privacy_exporters.items()), "messages": fake_exporter})
    api_client.post("/api/v1/consents/opt-in", opt_in_body(), format="json")
    # when
    body = api_client.get("/api/v1/privacy/export", {"phone": PHONE}).json()
    # then
    assert body["messages"] == [{"contact": Contact.objects.get().public_id}]


def fake_exporter(*, contact: Contact) -> list[dict[str, str]]:
    return [{"contact": contact.public_id}]


def test_privacy_endpoints_need_the_privacy_scope(notices):
    client = client_with(ApiScope.CONSENT)
    assert client.post("/api/v1/privacy/erasure", {"phone": PHONE}, format="json").status_code == 403
    assert client.get("/api/v1/privacy/export", {"phone": PHONE}).status_code == 403
    assert client.get("/api/v1/notices/current").status_code == 200
    assert nothing_written()


def test_schema_documents_the_consent_endpoints(client):
    # when
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    # then
    import yaml

    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    assert "201" in paths["/api/v1/consents/opt-in"]["post"]["responses"]
    assert "200" in paths["/api/v1/consents/opt-out"]["post"]["responses"]
    assert "404" in paths["/api/v1/consents/{phone}"]["get"]["responses"]
    assert "202" in paths["/api/v1/privacy/erasure"]["post"]["responses"]
    assert any(p["name"] == "phone" for p in paths["/api/v1/privacy/export"]["get"]["parameters"])
    assert any(p["name"] == "language" for p in paths["/api/v1/notices/current"]["get"]["parameters"])
    opt_in = schema["components"]["schemas"]["OptInInputRequest"]
    assert set(opt_in["required"]) == {"phone", "purposes", "notice_version", "source"}


def test_the_published_notice_cannot_be_changed_by_the_service(notices):
    from consent.services.common import NoticePublished
    from consent.services.notices import notice_save

    notice = ConsentNotice.objects.get(version="2026-11-01-en")
    notice.text = "Something else"
    with pytest.raises(NoticePublished):
        notice_save(notice=notice)
    assert ConsentNotice.objects.get(version="2026-11-01-en").text != "Something else"


def test_backdated_opt_out_still_takes_effect_at_once(api_client, notices):
    # given a current opt-in
    api_client.post("/api/v1/consents/opt-in", opt_in_body(purposes=["marketing"], occurred_at=None), format="json")
    # when an opt-out arrives that says it happened earlier
    response = api_client.post("/api/v1/consents/opt-out", {"phone": PHONE, "purposes": ["marketing"],
                                                           "occurred_at": "2026-01-01T00:00:00Z"}, format="json")
    # then withdrawal wins: suppressing by mistake is the safe error
    assert response.json()["purposes"]["marketing"]["status"] == "opted_out"
