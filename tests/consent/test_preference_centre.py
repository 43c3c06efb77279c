"""The customer's preference centre (API.md "Preference centre"): the link API, the signed page
and its one form, the PREFERENCES keyword on WhatsApp. The browser walk-through at phone width
is tests/e2e/test_preference_centre.py."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from consent.models import ConsentEvent, ConsentEvidence, ConsentState, Contact, OptOutKeyword
from consent.preferences import preference_link_issue
from consent.services.common import ConsentError
from consent.services.erasure import consent_erase
from consent.services.notices import keyword_save
from consent.services.optin import consent_opt_in
from messaging.models import Message, MessageKind
from pandorakart_wa.core.api.keys import api_key_create
from pandorakart_wa.core.models import ApiScope
from tests.consent.test_webhooks import post

pytestmark = pytest.mark.django_db

PHONE = "+919812345678"  # not the business's own support number, which the notice shows


@pytest.fixture
def customer(notices: Any, actor: Any) -> Contact:
    """A customer who consented at checkout to order updates and offers."""
    receipt = consent_opt_in(phone=PHONE, purposes=["order_updates", "marketing"], notice=notices["en"],
                             source="checkout", actor=actor)
    return receipt.contact


def inbound(message: dict[str, Any]) -> dict[str, Any]:
    """A message from the customer's WhatsApp number (Meta's shape)."""
    wa_id = PHONE.lstrip("+")
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Ravi"}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": f"wamid.{time.time_ns()}", "timestamp": str(int(time.time())), **message}],
    }


def link_path(contact: Contact, language: str = "en") -> str:
    url = preference_link_issue(contact=contact, language=language).url
    return re.sub(r"^https?://[^/]+", "", url)


def states(contact: Contact) -> dict[str, str]:
    return dict(ConsentState.objects.filter(contact=contact).values_list("purpose", "status"))


def checkboxes(html: str) -> dict[str, bool]:
    found = {}
    for tag in re.findall(r'<input type="checkbox" name="purpose"[^>]*>', html):
        value = re.search(r'value="([^"]+)"', tag)
        assert value is not None
        found[value.group(1)] = " checked" in tag
    return found


# --- POST /api/v1/preferences/link ------------------------------------------------------------


def test_link_api_gives_a_signed_link_that_expires_in_seven_days(api_client, customer, settings):
    # when the storefront asks for the customer's link
    response = api_client.post("/api/v1/preferences/link", {"phone": "09812345678", "language": "hi"}, format="json")
    # then a link under the public address, valid for the default 7 days
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {"url", "expires_at"}
    assert body["url"].startswith(settings.PUBLIC_BASE_URL + "/preferences/")
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - (timezone.now() + timedelta(days=7))) < timedelta(seconds=5)
    assert "9812345678" not in body["url"]  # the link names the contact, never the number
    # and it opens the customer's page in Hindi
    page = Client().get(re.sub(r"^https?://[^/]+", "", body["url"]))
    assert page.status_code == 200
    assert 'lang="hi"' in page.content.decode()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"language": "en"}, "phone"), ({"phone": "12345"}, "phone"), ({"phone": PHONE, "language": "fr"}, "language"),
     ({"phone": 919227021270}, "phone")],
)
def test_link_api_names_the_bad_field(api_client, customer, body, field):
    response = api_client.post("/api/v1/preferences/link", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]


def test_link_api_unknown_number_is_404(api_client, db):
    response = api_client.post("/api/v1/preferences/link", {"phone": PHONE}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "+91******5678" in response.json()["detail"]


def test_link_api_refuses_an_erased_customer(api_client, customer, actor):
    consent_erase(phone=PHONE, actor=actor)
    response = api_client.post("/api/v1/preferences/link", {"phone": PHONE}, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "contact_erased"


def test_link_api_needs_a_key_with_the_consent_scope(customer):
    assert APIClient().post("/api/v1/preferences/link", {"phone": PHONE}, format="json").status_code == 401
    _, key = api_key_create(name="messages-only", scopes=[ApiScope.MESSAGES])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = client.post("/api/v1/preferences/link", {"phone": PHONE}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


# --- The page -------------------------------------------------------------------------------------


def test_page_shows_each_purpose_its_state_and_the_notice_in_force(client, customer, notices):
    # when the customer opens their link
    response = client.get(link_path(customer))
    # then 200, one checkbox per purpose, ticked where they consented
    assert response.status_code == 200
    html = response.content.decode()
    assert checkboxes(html) == {"order_updates": True, "account_security": False, "marketing": True, "support": False}
    assert 'method="post"' in html and "csrfmiddlewaretoken" in html
    assert "Offers" in html and "Discounts, recommendations and reminders about your cart." in html
    assert notices["en"].version in html  # the notice in force
    assert "+91******5678" in html and "9812345678" not in html.replace("+91******5678", "")
    assert response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "same-origin"


def test_page_in_hindi_uses_the_hindi_notice(client, customer, notices):
    html = client.get(link_path(customer, "hi")).content.decode()
    assert "ऑफ़र" in html and "मेरी पसंद सेव करें" in html
    assert notices["hi"].version in html
    # and the customer can switch language without a new link
    english = client.get(link_path(customer, "hi") + "?lang=en").content.decode()
    assert "Save my choices" in english


def test_saving_withdraws_unticked_and_grants_newly_ticked_under_the_current_notice(client, customer, notices):
    # given the customer holds order updates and offers
    path = link_path(customer)
    page = client.get(path)
    token = page.cookies["csrftoken"].value
    # when they untick offers, tick support, and save (one form)
    response = client.post(path, {"purpose": ["order_updates", "support"], "csrfmiddlewaretoken": token,
                                  "lang": "en"}, HTTP_USER_AGENT="Mobile Safari", REMOTE_ADDR="203.0.113.7")
    # then the page confirms the new state, which is in force at once
    assert response.status_code == 200
    html = response.content.decode()
    assert "Your choices are in force now" in html
    assert checkboxes(html) == {"order_updates": True, "account_security": False, "marketing": False, "support": True}
    assert states(customer) == {"order_updates": "opted_in", "marketing": "opted_out", "support": "opted_in"}
    # and the ledger holds one withdrawal and one consent, from the preference centre, by the customer
    written = ConsentEvent.objects.filter(source="preference_centre").order_by("id")
    assert [(e.action, e.purpose) for e in written] == [("opt_out", "marketing"), ("opt_in", "support")]
    assert {e.actor_type for e in written} == {"customer"}
    assert written[1].notice_version == notices["en"].version
    assert written[0].notice_version == ""
    evidence = ConsentEvidence.objects.get(event=written[1]).data
    assert evidence["ticked"] == ["order_updates", "support"]
    assert evidence["notice_shown"] == notices["en"].version
    assert (evidence["ip"], evidence["user_agent"]) == ("203.0.113.7", "Mobile Safari")


def test_saving_unchanged_choices_writes_nothing(client, customer):
    path = link_path(customer)
    token = client.get(path).cookies["csrftoken"].value
    before = ConsentEvent.objects.count()
    response = client.post(path, {"purpose": ["order_updates", "marketing"], "csrfmiddlewaretoken": token})
    assert response.status_code == 200
    assert "Nothing needed to change" in response.content.decode()
    assert ConsentEvent.objects.count() == before


def test_unticking_everything_withdraws_everything(client, customer):
    path = link_path(customer)
    token = client.get(path).cookies["csrftoken"].value
    client.post(path, {"csrfmiddlewaretoken": token})
    assert set(states(customer).values()) == {"opted_out"}


def test_an_unknown_purpose_is_refused_and_changes_nothing(client, customer):
    path = link_path(customer)
    token = client.get(path).cookies["csrftoken"].value
    before = ConsentEvent.objects.count()
    response = client.post(path, {"purpose": ["order_updates", "lottery"], "csrfmiddlewaretoken": token})
    assert response.status_code == 400
    assert "lottery" in response.content.decode()
    assert ConsentEvent.objects.count() == before


def test_the_form_is_csrf_protected(customer):
    browser = Client(enforce_csrf_checks=True)
    path = link_path(customer)
    response = browser.post(path, {"purpose": []})
    assert response.status_code == 403
    assert states(customer)["marketing"] == "opted_in"


def test_a_tampered_link_shows_a_clear_page_and_changes_nothing(client, customer):
    path = link_path(customer)
    token = path.split("/")[2]
    tampered = f"/preferences/{token[:-2]}{'AA' if not token.endswith('AA') else 'BB'}/"
    before = ConsentEvent.objects.count()
    for response in (client.get(tampered), client.post(tampered, {"purpose": []})):
        assert response.status_code == 404
        html = response.content.decode()
        assert "This link is not valid" in html and "यह लिंक मान्य नहीं है" in html
    assert client.get("/preferences/not-a-token/").status_code == 404
    assert ConsentEvent.objects.count() == before


def test_a_link_signed_for_something_else_does_not_open(client, customer):
    from django.core import signing

    forged = signing.TimestampSigner(salt="another.purpose").sign_object({"c": customer.uid.hex, "l": "en", "i": 1})
    assert client.get(f"/preferences/{forged}/").status_code == 404


def test_an_expired_link_shows_a_clear_page_and_changes_nothing(client, customer, settings):
    # given a link issued eight days ago
    eight_days_ago = time.time() - 8 * 24 * 3600
    with mock.patch("time.time", return_value=eight_days_ago):
        path = link_path(customer)
    before = ConsentEvent.objects.count()
    # when the customer opens it or posts to it
    for response in (client.get(path), client.post(path, {"purpose": []})):
        # then 410 with a way to get a new one, and nothing changed
        assert response.status_code == 410
        assert "This link has expired" in response.content.decode()
        assert "PREFERENCES" in response.content.decode()
    assert ConsentEvent.objects.count() == before
    assert states(customer)["marketing"] == "opted_in"


def test_a_shorter_lifetime_setting_is_honoured(client, customer, settings):
    settings.PREFERENCE_LINK_DAYS = 1
    two_days_ago = time.time() - 2 * 24 * 3600
    with mock.patch("time.time", return_value=two_days_ago):
        path = link_path(customer)
    assert client.get(path).status_code == 410


def test_the_link_of_an_erased_customer_is_gone(client, customer, actor):
    path = link_path(customer)
    consent_erase(phone=PHONE, actor=actor)
    response = client.get(path)
    assert response.status_code == 410
    assert "erased" in response.content.decode()


# --- The PREFERENCES keyword on WhatsApp -------------------------------------------------------------


def test_preferences_keyword_replies_with_a_working_link_and_changes_no_consent(client, customer):
    before = ConsentEvent.objects.count()
    # when the customer writes "preferences" on WhatsApp
    response = post(client, "messages", inbound({"type": "text", "text": {"body": " Preferences "}}))
    # then a reply inside the window carries their link, and no consent changed
    assert response.status_code == 200
    assert ConsentEvent.objects.count() == before
    reply = Message.objects.get(kind=MessageKind.CONFIRMATION)
    assert reply.contact_id == customer.pk
    assert "works for 7 days" in reply.text
    url = re.search(r"https?://\S+/preferences/\S+/", reply.text)
    assert url is not None
    page = client.get(re.sub(r"^https?://[^/]+", "", url.group(0)))
    assert page.status_code == 200
    assert checkboxes(page.content.decode())["marketing"] is True


def test_hindi_keyword_sends_a_hindi_link(client, customer):
    post(client, "messages", inbound({"type": "text", "text": {"body": "पसंद"}}))
    reply = Message.objects.get(kind=MessageKind.CONFIRMATION)
    assert "यह लिंक 7 दिन तक काम करेगा" in reply.text
    url = re.search(r"https?://\S+/preferences/\S+/", reply.text)
    assert url is not None
    assert 'lang="hi"' in client.get(re.sub(r"^https?://[^/]+", "", url.group(0))).content.decode()


def test_staff_edited_keyword_is_used(client, customer):
    # given staff add their own phrase with their own wording
    keyword_save(keyword=OptOutKeyword(phrase="MY SETTINGS", action="preferences", language="en",
                                       reply_text="Your settings: {link}"))
    post(client, "messages", inbound({"type": "text", "text": {"body": "my settings"}}))
    reply = Message.objects.get(kind=MessageKind.CONFIRMATION)
    assert reply.text.startswith("Your settings: http")


def test_a_preferences_reply_must_have_a_place_for_the_link(db):
    with pytest.raises(ConsentError) as caught:
        keyword_save(keyword=OptOutKeyword(phrase="CHOICES", action="preferences", reply_text="See our site"))
    assert caught.value.field == "reply_text"


# --- Settings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value", "check_id"), [
    ("PUBLIC_BASE_URL", "wa.pandorakart.com", "consent.E001"),
    ("PUBLIC_BASE_URL", "https://wa.pandorakart.com/prefs", "consent.E001"),
    ("PREFERENCE_LINK_DAYS", 0, "consent.E002"),
])
def test_bad_preference_settings_fail_the_system_check(settings, name, value, check_id):
    from consent.checks import preference_settings_check

    assert preference_settings_check() == []
    setattr(settings, name, value)
    assert [problem.id for problem in preference_settings_check()] == [check_id]


def test_log_lines_never_carry_a_link_token(customer):
    from pandorakart_wa.core.logging import mask_phone_numbers

    path = link_path(customer)
    line = f'"GET {path} HTTP/1.1" 200 and POST /api/v1/preferences/link for +919812345678'
    masked = mask_phone_numbers(line)
    assert path.split("/")[2] not in masked
    assert "/preferences/[token]/" in masked and "/api/v1/preferences/link" in masked
    assert "+91******5678" in masked


def test_preferences_outside_the_webhook_pipeline_changes_no_consent(customer):
    from consent.services.inbound import consent_apply_inbound_text

    result = consent_apply_inbound_text(wa_id=PHONE.lstrip("+"), user_id=None, text="PREFERENCES",
                                        wamid="wamid.direct", at=timezone.now())
    assert result is None  # not a consent keyword: the router answers it with the link
    assert states(customer)["marketing"] == "opted_in"


def test_dates_on_the_hindi_page_are_in_hindi(client, customer):
    html = client.get(link_path(customer, "hi")).content.decode()
    # the month of the consent and of the link's expiry, as Django's Hindi locale spells it
    assert "दिस" in html
    assert "Dec " not in html and "December" not in html
