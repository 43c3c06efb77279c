"""Staff register consent managers in the admin (through consent_manager_save) and read their
keys and artefacts; nobody deletes one (its artefacts are in the ledger)."""

from __future__ import annotations

import pytest

from consent.managers import consent_manager_key_bind, consent_manager_register
from consent.models import ConsentManager
from consent.types import Actor
from pandorakart_wa.core.api.keys import api_key_create

pytestmark = pytest.mark.django_db


def test_officer_registers_a_consent_manager(client_as):
    client = client_as("officer")
    response = client.post("/admin/consent/consentmanager/add/",
                           {"registration_id": "CM-2026-0042", "name": "Sahmati Consents", "active": "on",
                            "keys-TOTAL_FORMS": "0", "keys-INITIAL_FORMS": "0"})
    assert response.status_code == 302, response.content.decode()[:2000]
    manager = ConsentManager.objects.get()
    assert (manager.registration_id, manager.name, manager.active) == ("CM-2026-0042", "Sahmati Consents", True)


def test_a_bad_or_duplicate_registration_id_is_named_on_the_form(client_as):
    consent_manager_register(registration_id="CM-1", name="One", actor=Actor.system("test"))
    client = client_as("officer")
    for registration_id, message in (("cm-1", "already registered"), ("has space", "registration id is 1-64")):
        response = client.post("/admin/consent/consentmanager/add/",
                               {"registration_id": registration_id, "name": "Two", "active": "on",
                                "keys-TOTAL_FORMS": "0", "keys-INITIAL_FORMS": "0"})
        assert response.status_code == 200
        assert message in response.content.decode()
    assert ConsentManager.objects.count() == 1


def test_the_manager_page_lists_its_keys_and_nobody_deletes_it(client_as):
    manager = consent_manager_register(registration_id="CM-7", name="Seven", actor=Actor.system("test"))
    api_key, _ = api_key_create(name="seven-prod", scopes=["consent_manager"])
    consent_manager_key_bind(api_key=api_key, registration_id="CM-7")
    page = client_as("auditor").get(f"/admin/consent/consentmanager/{manager.pk}/change/")
    assert page.status_code == 200
    assert "seven-prod" in page.content.decode() and f"{api_key.prefix}" in page.content.decode()
    officer = client_as("officer")
    assert officer.post(f"/admin/consent/consentmanager/{manager.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ConsentManager.objects.filter(pk=manager.pk).exists()
    listing = officer.get("/admin/consent/consentmanager/")
    assert "CM-7" in listing.content.decode()


def test_the_evidence_pack_page_shows_the_consent_managers_artefacts(client_as):
    from consent.managers import consent_artefact_record
    from consent.seed import seed_notices

    notice = {n.language: n for n in seed_notices()}["en"]
    manager = consent_manager_register(registration_id="CM-EP-1", name="Evidence Manager", actor=Actor.system("test"))
    outcome = consent_artefact_record(manager=manager, artefact_id="cm-ep-77", action="grant", phone="+919812345678",
                                      purposes=["marketing"], notice=notice)
    consent_artefact_record(manager=manager, artefact_id="cm-ep-77", action="withdraw", phone=None, purposes=None,
                            notice=None)
    contact = outcome.receipt.contact
    page = client_as("officer").get(f"/admin/compliance/evidence/{contact.public_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="pack-consent-managers"' in html
    assert "cm-ep-77" in html and "Evidence Manager" in html and "withdraw" in html
    assert "CM-EP-1, artefact cm-ep-77" in html  # on each ledger event row
    assert "9812345678" not in html
