"""create_compliance_officer and the demo admin's authenticator (seed_demo)."""

from __future__ import annotations

import io

import pytest
from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from pandorakart_wa.core.roles import COMPLIANCE_OFFICER
from pandorakart_wa.management.commands.seed_demo import Command as SeedDemo
from tests.backoffice.helpers import current_code

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("create_compliance_officer", *args, stdout=out)
    return out.getvalue()


def _printed(output: str, prefix: str) -> str:
    return next(line.split(prefix, 1)[1].strip() for line in output.splitlines() if prefix in line)


def test_creates_a_compliance_officer_who_can_sign_in_with_the_printed_secrets():
    # when
    output = _run("priya", "--email", "priya@pandorakart.com", "--no-input")
    # then a staff user in the group, not a superuser, with a confirmed TOTP device
    user = get_user_model().objects.get(username="priya")
    assert user.is_staff and not user.is_superuser and user.email == "priya@pandorakart.com"
    assert list(user.groups.values_list("name", flat=True)) == [COMPLIANCE_OFFICER]
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    uri = _printed(output, "otpauth URI:")
    assert uri == device.config_url and uri.startswith("otpauth://totp/")
    assert "█" in output  # the terminal QR code
    # and the printed password with the current code signs in
    password = _printed(output, "Password:")
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "priya", "password": password, "otp_token": current_code(device), "next": "/admin/"},
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    # and the creation is in the audit trail, by the management-command actor
    created = LogEntry.objects.get_for_object(user).filter(action=LogEntry.Action.CREATE).get()
    assert created.actor.username == "system:management-command"


def test_superuser_flag():
    _run("root-officer", "--email", "r@pandorakart.com", "--superuser", "--no-input", "--no-qr")
    assert get_user_model().objects.get(username="root-officer").is_superuser


def test_existing_username_is_refused_and_nothing_changes():
    _run("priya", "--email", "priya@pandorakart.com", "--no-input")
    with pytest.raises(CommandError, match="already exists"):
        _run("priya", "--email", "other@pandorakart.com", "--no-input")
    assert get_user_model().objects.get(username="priya").email == "priya@pandorakart.com"
    assert TOTPDevice.objects.count() == 1


def test_seed_demo_gives_the_demo_admin_the_fixed_authenticator(monkeypatch, django_user_model):
    # given the run command's .env values
    key = "3132333435363738393031323334353637383930"
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "demo-password-123")
    monkeypatch.setenv("DEMO_ADMIN_TOTP_KEY", key)
    monkeypatch.delenv("DEMO_API_KEY", raising=False)
    # when seeding twice (idempotent)
    outputs = []
    for _ in range(2):
        command = SeedDemo(stdout=io.StringIO())
        command._seed_logins()
        outputs.append(command.stdout._out.getvalue())  # type: ignore[attr-defined]
    # then one confirmed device with that key, its URI and the current code printed
    admin = django_user_model.objects.get(username="admin")
    device = TOTPDevice.objects.get(user=admin)
    assert device.key == key and device.confirmed
    assert "Admin login: admin / demo-password-123" in outputs[1]
    assert device.config_url in outputs[1]
    assert f"Admin code right now: {current_code(device)}" in outputs[1]
    # and the admin signs in with the code
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "admin", "password": "demo-password-123", "otp_token": current_code(device), "next": "/admin/"},
    )
    assert response.status_code == 302 and client.get("/admin/").status_code == 200
