"""The customer's preference centre in a real browser at phone width (390 x 844, a common
Android/iPhone viewport): the page fits the screen, shows each purpose and the notice, and
withdrawing takes exactly as many steps as giving (DPDP s.6(4)). Screenshots are kept in
test-artifacts/ (test_preference_centre_*-<step>.png)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from consent.models import ConsentEvent, ConsentState, Contact
from consent.preferences import preference_link_issue
from consent.seed import seed_notices
from consent.services.optin import consent_opt_in
from consent.types import Actor
from tests.e2e.conftest import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE_SCREEN: ViewportSize = {"width": 390, "height": 844}
TAP_TARGET_MIN_PX = 44  # WCAG 2.5.5 / Apple HIG: a thumb-sized target
PHONE = "+919812345678"


@pytest.fixture
def phone(browser: Browser, live_server: Any, settings: Any) -> Iterator[Page]:
    settings.PUBLIC_BASE_URL = live_server.url  # the links the service hands out point at the test server
    context = browser.new_context(viewport=PHONE_SCREEN, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="en-IN")
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def customer(transactional_db: Any) -> Contact:
    notices = {n.language: n for n in seed_notices()}
    receipt = consent_opt_in(phone=PHONE, purposes=["order_updates", "marketing"], notice=notices["en"],
                             source="checkout", actor=Actor.system("checkout test"))
    return receipt.contact


def status(contact: Contact, purpose: str) -> str | None:
    state = ConsentState.objects.filter(contact=contact, purpose=purpose).first()
    return state.status if state else None


def assert_fits_the_phone(page: Page) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE_SCREEN["width"], f"the page scrolls sideways ({width}px wide)"
    for locator in (page.locator("label.purpose"), page.locator("button.save")):
        for index in range(locator.count()):
            box = locator.nth(index).bounding_box()
            assert box is not None and box["height"] >= TAP_TARGET_MIN_PX, f"tap target too small: {box}"


def test_customer_withdraws_and_gives_consent_in_as_many_steps_at_phone_width(phone, customer, screenshot):
    # given the customer's link, as the WhatsApp reply or the storefront hands it out
    url = preference_link_issue(contact=customer, language="en").url
    # when they open it on their phone
    phone.goto(url)
    # then each purpose is there in plain words with its state, ticked where they consented
    expect(phone.locator("h1")).to_have_text("Your WhatsApp messages from PANDORAKART")
    expect(phone.locator("#masked-phone")).to_have_text("+91******5678")
    expect(phone.locator("#purpose-order_updates")).to_be_checked()
    expect(phone.locator("#purpose-marketing")).to_be_checked()
    expect(phone.locator("#purpose-support")).not_to_be_checked()
    expect(phone.locator("label[for=purpose-marketing]")).to_contain_text("Discounts, recommendations")
    expect(phone.locator("#notice-version")).to_have_text("2026-11-01-en")
    assert_fits_the_phone(phone)
    screenshot(phone, "1-opened")

    # when they withdraw offers: untick, save (two steps)
    withdraw_steps = [lambda: phone.locator("label[for=purpose-marketing]").tap(),
                      lambda: phone.locator("button.save").tap()]
    for step in withdraw_steps:
        step()
    phone.wait_for_load_state()
    # then it is in force at once and the page says so
    expect(phone.locator("#saved")).to_contain_text("Turned off: Offers")
    expect(phone.locator("#purpose-marketing")).not_to_be_checked()
    assert status(customer, "marketing") == "opted_out"
    assert ConsentEvent.objects.filter(source="preference_centre", action="opt_out", purpose="marketing").count() == 1
    screenshot(phone, "2-offers-withdrawn")

    # when they give consent to support replies: tick, save (the same two steps)
    give_steps = [lambda: phone.locator("label[for=purpose-support]").tap(),
                  lambda: phone.locator("button.save").tap()]
    for step in give_steps:
        step()
    phone.wait_for_load_state()
    expect(phone.locator("#saved")).to_contain_text("Turned on: Support replies")
    assert status(customer, "support") == "opted_in"
    given = ConsentEvent.objects.get(source="preference_centre", action="opt_in", purpose="support")
    assert given.notice_version == "2026-11-01-en"
    # withdrawing took no more steps than giving (DPDP s.6(4))
    assert len(withdraw_steps) <= len(give_steps)
    assert_fits_the_phone(phone)
    screenshot(phone, "3-support-given")

    # when they read the notice in force
    phone.locator("#notice summary").tap()
    expect(phone.locator("#notice")).to_contain_text("Data Protection Board of India")
    screenshot(phone, "4-notice-open")


def test_the_page_in_hindi_at_phone_width(phone, customer, screenshot):
    phone.goto(preference_link_issue(contact=customer, language="hi").url)
    expect(phone.locator("html")).to_have_attribute("lang", "hi")
    expect(phone.locator("h1")).to_have_text("PANDORAKART से आपके WhatsApp संदेश")
    expect(phone.locator("button.save")).to_have_text("मेरी पसंद सेव करें")
    expect(phone.locator("#notice-version")).to_have_text("2026-11-01-hi")
    assert_fits_the_phone(phone)
    screenshot(phone, "hindi")
    # the customer withdraws offers in Hindi, in the same two steps
    phone.locator("label[for=purpose-marketing]").tap()
    phone.locator("button.save").tap()
    expect(phone.locator("#saved")).to_contain_text("बंद किया: ऑफ़र")
    assert status(customer, "marketing") == "opted_out"
    screenshot(phone, "hindi-saved")
    # and can switch to English on the same link
    phone.locator("#other-language").tap()
    expect(phone.locator("button.save")).to_have_text("Save my choices")


def test_tampered_and_expired_links_show_a_clear_page_and_change_nothing(phone, customer, screenshot, live_server):
    before = ConsentEvent.objects.count()
    url = preference_link_issue(contact=customer, language="en").url
    response = phone.goto(url[:-6] + "xxxxx/")
    assert response is not None and response.status == 404
    expect(phone.locator("#error-en")).to_contain_text("This link is not valid")
    expect(phone.locator("#error-hi")).to_contain_text("यह लिंक मान्य नहीं है")
    screenshot(phone, "tampered")
    with mock.patch("time.time", return_value=time.time() - 8 * 24 * 3600):
        old = preference_link_issue(contact=customer, language="en").url
    response = phone.goto(old)
    assert response is not None and response.status == 410
    expect(phone.locator("#error-en")).to_contain_text("This link has expired")
    expect(phone.locator("#error-en")).to_contain_text("Reply PREFERENCES")
    screenshot(phone, "expired")
    assert ConsentEvent.objects.count() == before
    assert status(customer, "marketing") == "opted_in"
