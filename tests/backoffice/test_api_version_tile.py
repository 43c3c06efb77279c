"""The dashboard's Graph API tile: the configured WHATSAPP_API_VERSION and the days Meta leaves it
(pandorakart_wa/whatsapp/versions.py, the table the deploy check reads too)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from tests.backoffice.helpers import make_staff, otp_force_login

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/compliance/"


def _tile(html: str) -> tuple[str, str]:
    match = re.search(r'<div class="cd-kpi (\w*)" id="tile-api-version">(.*?)</div>\s*</div>', html, re.S)
    assert match, "no Graph API tile"
    return match.group(1), re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(2))).strip()


@pytest.mark.parametrize(
    ("version", "colour", "shown"),
    [
        ("v23.0", "ok", "v23.0 · 311 days left Meta retires v23.0 on 08 Oct 2027, in 311 days"),
        ("v21.0", "warn", "v21.0 · 51 days left Meta retires v21.0 on 21 Jan 2027, in 51 days"),
        ("v20.0", "bad", "v20.0 · retired Meta retired v20.0 on 24 Sep 2026"),
        ("v26.0", "ok", "v26.0 v26.0 (released 29 Jul 2026); Meta has not announced its retirement"),
    ],
)
def test_the_dashboard_shows_the_days_left_for_the_configured_version(client, settings, monkeypatch, version,
                                                                      colour, shown):
    # given the configured version, on 1 December 2026 (India time)
    settings.WHATSAPP_API_VERSION = version
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: dt.date(2026, 12, 1))
    officer = otp_force_login(client, make_staff("officer-api", "Compliance officer"))
    # when the officer opens the dashboard
    html = officer.get(DASHBOARD).content.decode()
    # then the tile says where the version stands in Meta's lifecycle
    assert _tile(html) == (colour, f"Graph API version {shown}")
