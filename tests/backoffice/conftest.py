"""Fixtures for the back-office tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from pandorakart_wa.core.roles import AUDITOR, COMPLIANCE_OFFICER, MARKETING, SUPPORT_AGENT
from tests.backoffice.helpers import make_staff, otp_force_login

ROLE_SLUGS = {
    "officer": COMPLIANCE_OFFICER,
    "auditor": AUDITOR,
    "support": SUPPORT_AGENT,
    "marketing": MARKETING,
}


@pytest.fixture
def staff(db: Any) -> Callable[..., Any]:
    """staff("officer"|"auditor"|"support"|"marketing", username=...) -> a user with a TOTP device."""
    counter = iter(range(1, 10_000))

    def make(role: str, *, username: str | None = None, **kwargs: Any) -> Any:
        return make_staff(username or f"{role}{next(counter)}", ROLE_SLUGS[role], **kwargs)

    return make


@pytest.fixture
def client_as(staff: Callable[..., Any]) -> Callable[[str], Client]:
    """client_as("auditor") -> a Django test client signed in with 2FA as a new user in that role."""

    def make(role: str) -> Client:
        return otp_force_login(Client(), staff(role))

    return make
