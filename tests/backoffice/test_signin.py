"""Staff sign-in: password + TOTP code, self-service enrolment, lockout, session limits."""

from __future__ import annotations

import time
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from pandorakart_wa.backoffice.admin.security import LAST_SEEN_KEY, SIGNED_IN_KEY
from tests.backoffice.helpers import STAFF_PASSWORD, current_code, otp_force_login, wrong_code

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


def sign_in(client: Client, username: str, code: str = "", password: str = STAFF_PASSWORD, **extra: Any) -> Any:
    return client.post(LOGIN, {"username": username, "password": password, "otp_token": code, "next": "/admin/"}, **extra)


def test_password_session_without_verified_device_cannot_reach_admin_index(staff):
    # given an officer signed in by password only (force_login: no OTP verification)
    client = Client()
    client.force_login(staff("officer"))
    # when
    response = client.get("/admin/")
    # then the admin treats them as not staff
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_verified_session_reaches_admin_index(client_as):
    # given / when
    response = client_as("officer").get("/admin/")
    # then
    assert response.status_code == 200
    assert b"Back office" in response.content


def test_sign_in_with_password_and_current_code_opens_admin(staff):
    # given
    user = staff("officer")
    device = TOTPDevice.objects.get(user=user)
    client = Client()
    # when
    response = sign_in(client, user.username, current_code(device))
    # then
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response.url == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("code", ["", "wrong"])
def test_sign_in_with_missing_or_wrong_code_is_refused(staff, code):
    # given
    user = staff("officer")
    device = TOTPDevice.objects.get(user=user)
    client = Client()
    # when
    response = sign_in(client, user.username, wrong_code(device) if code == "wrong" else "")
    # then the form is shown again with the error, and the admin stays closed
    assert response.status_code == 200
    assert response.context["form"].errors
    assert client.get("/admin/").status_code == 302


def test_used_code_cannot_be_replayed(staff):
    # given an officer who signed in with a code
    user = staff("officer")
    device = TOTPDevice.objects.get(user=user)
    code = current_code(device)
    assert sign_in(Client(), user.username, code).status_code == 302
    # when the same code is sent again from another browser
    response = sign_in(Client(), user.username, code)
    # then
    assert response.status_code == 200


def test_staff_without_device_enrols_then_reaches_admin(staff):
    # given a staff user without an authenticator
    user = staff("auditor", device=False)
    client = Client()
    # when they sign in with the password alone
    response = sign_in(client, user.username)
    # then they are sent to the enrolment page, and the admin stays closed
    assert response.status_code == 302
    assert response.url.startswith("/admin/enrol/")
    assert client.get("/admin/").status_code == 302
    page = client.get("/admin/enrol/")
    assert page.status_code == 200
    assert page.context["otpauth_uri"].startswith("otpauth://totp/")
    assert page.context["qr_data_uri"].startswith("data:image/svg+xml;base64,")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    # when they confirm with a wrong code, then a right one
    refused = client.post("/admin/enrol/", {"otp_token": wrong_code(device)})
    TOTPDevice.objects.get(pk=device.pk).throttle_reset()  # django-otp waits 1 s after a failure
    confirmed = client.post("/admin/enrol/", {"otp_token": current_code(device)})
    # then
    assert refused.status_code == 200 and refused.context["form"].errors
    assert confirmed.status_code == 302
    assert client.get("/admin/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    assert LogEntry.objects.get_for_object(device).filter(action=LogEntry.Action.CREATE).exists()


def test_enrolment_page_is_closed_to_users_with_a_device(staff):
    # given an officer with a device, signed in by password only
    client = Client()
    client.force_login(staff("officer"))
    # when
    response = client.get("/admin/enrol/")
    # then they must sign in with their code instead
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_enrolment_page_is_closed_to_anonymous_and_non_staff(db, django_user_model):
    # given
    customer = django_user_model.objects.create_user(username="not-staff", password=STAFF_PASSWORD)
    client = Client()
    client.force_login(customer)
    # when / then
    assert Client().get("/admin/enrol/").status_code == 302
    assert client.get("/admin/enrol/").status_code == 302
    assert not TOTPDevice.objects.exists()


def test_without_self_enrolment_password_only_sign_in_is_refused(staff, settings):
    # given
    settings.STAFF_OTP_SELF_ENROLMENT = False
    user = staff("officer", device=False)
    client = Client()
    # when
    response = sign_in(client, user.username)
    # then
    assert response.status_code == 200
    assert "No authenticator" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_five_wrong_passwords_lock_the_username_from_that_address(staff):
    # given
    user = staff("officer")
    device = TOTPDevice.objects.get(user=user)
    client = Client()
    # when five wrong passwords are tried
    for _ in range(5):
        sign_in(client, user.username, "123456", password="wrong-password")
    # then even the right password and code are refused with the lockout page
    locked = sign_in(client, user.username, current_code(device))
    assert locked.status_code == 429
    assert "Sign-in locked" in locked.content.decode()
    assert client.get("/admin/").status_code == 302
    # and the lock is per username + address: another address still signs in
    other = sign_in(Client(), user.username, current_code(device), REMOTE_ADDR="10.1.2.3")
    assert other.status_code == 302


def test_wrong_codes_count_towards_the_lockout(staff):
    # given an officer whose password is known to an attacker
    user = staff("officer")
    device = TOTPDevice.objects.get(user=user)
    client = Client()
    # when five wrong codes are tried with the right password
    for _ in range(5):
        sign_in(client, user.username, wrong_code(device))
    # then the sixth attempt is locked out
    assert sign_in(client, user.username, current_code(device)).status_code == 429


def test_four_failures_then_success_resets_the_count(staff):
    # given
    user = staff("officer")
    device = TOTPDevice.objects.get(user=user)
    for _ in range(4):
        sign_in(Client(), user.username, password="wrong-password")
    # when
    assert sign_in(Client(), user.username, current_code(device)).status_code == 302
    for _ in range(4):
        sign_in(Client(), user.username, password="wrong-password")
    # then four more failures do not lock (the success reset the count)
    next_code = f"{totp(device.bin_key, drift=1):06d}"
    assert sign_in(Client(), user.username, next_code).status_code == 302


def test_idle_staff_session_is_signed_out(client_as, settings):
    # given an officer whose last request was longer ago than the idle timeout
    client = client_as("officer")
    assert client.get("/admin/").status_code == 200
    session = client.session
    session[LAST_SEEN_KEY] = int(time.time()) - settings.STAFF_IDLE_TIMEOUT - 5
    session.save()
    # when
    response = client.get("/admin/")
    # then
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_staff_session_ends_after_the_absolute_limit_despite_activity(client_as, settings):
    # given an active officer who signed in longer ago than SESSION_COOKIE_AGE
    client = client_as("officer")
    client.get("/admin/")
    session = client.session
    session[SIGNED_IN_KEY] = int(time.time()) - settings.SESSION_COOKIE_AGE - 5
    session.save()
    # when / then
    assert client.get("/admin/").status_code == 302


def test_active_staff_session_stays_signed_in(client_as):
    # given
    client = client_as("officer")
    # when / then
    for _ in range(3):
        assert client.get("/admin/").status_code == 200


def test_admin_client_fixture_is_otp_verified(admin_client):
    # other apps' admin tests use pytest-django's admin_client: it must still open the admin
    assert admin_client.get("/admin/").status_code == 200


def test_otp_client_fixture_signs_in_any_staff_user(otp_client, staff):
    assert otp_client(staff("support")).get("/admin/").status_code == 200


def test_otp_force_login_helper_creates_a_device_when_missing(staff):
    user = staff("marketing", device=False)
    assert otp_force_login(Client(), user).get("/admin/").status_code == 200
