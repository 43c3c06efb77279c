"""In a real browser: two-factor sign-in, a wrong code, the lockout, and admin styling."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from pandorakart_wa.core.roles import COMPLIANCE_OFFICER
from tests.backoffice.helpers import wrong_code
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_compliance_officer_signs_in_with_2fa_and_reaches_the_admin_index(page, staff_user, screenshot, live_server):
    # given a Compliance officer with an authenticator
    officer = staff_user(COMPLIANCE_OFFICER)
    # when they sign in with password and the current code
    sign_in(page, officer)
    # then the admin index opens, styled (the admin CSS is served)
    expect(page.locator("#site-name")).to_contain_text("PandoraKart WhatsApp compliance")
    expect(page.locator("h1")).to_contain_text("Back office")
    expect(page.locator("#user-tools")).to_contain_text(officer.username)
    css = page.request.get(f"{live_server.url}/static/admin/css/base.css")
    assert css.ok
    screenshot(page, "admin-index")


def test_wrong_code_is_refused(page, staff_user, screenshot):
    # given
    officer = staff_user(COMPLIANCE_OFFICER)
    device = TOTPDevice.objects.get(user=officer)
    # when
    sign_in(page, officer, code=wrong_code(device))
    # then the sign-in page is shown again with the error, and the admin stays closed
    expect(page.locator(".errornote")).to_contain_text("Invalid token")
    screenshot(page, "wrong-code")
    page.goto("/admin/")
    expect(page).to_have_url("/admin/login/?next=/admin/")


def test_repeated_failures_lock_the_sign_in(page, staff_user, screenshot):
    # given an officer and five wrong passwords from this browser
    officer = staff_user(COMPLIANCE_OFFICER)
    for _ in range(5):
        sign_in(page, officer, code="000000", password="not-the-password")
    # when the right password and code are then typed
    sign_in(page, officer)
    # then the lockout page answers
    expect(page.locator("#locked-out")).to_have_text("Sign-in locked")
    screenshot(page, "locked-out")
    page.goto("/admin/")
    expect(page).to_have_url("/admin/login/?next=/admin/")
