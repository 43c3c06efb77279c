"""The gateway is verified against Meta's OpenAPI file (tests/fakemeta: every request body the
cloud backend sends is checked against it). Meta publishes that file for one version only
(facebook/openapi: business-messaging-api v23.0), so the default WHATSAPP_API_VERSION must be that
version; moving the default means adding that version's OpenAPI file first."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from pandorakart_wa.whatsapp.versions import CHECKED_ON, Lifecycle, version_status
from tests.fakemeta.schema import OPENAPI_PATH


def _settings_default() -> str:
    """The default settings.py gives WHATSAPP_API_VERSION (the tests do not set the variable)."""
    source = (Path(__file__).resolve().parents[2] / "pandorakart_wa" / "settings.py").read_text()
    match = re.search(r'WHATSAPP_API_VERSION = env\.str\("WHATSAPP_API_VERSION", default="(v\d+\.\d+)"\)', source)
    assert match, "settings.py no longer reads WHATSAPP_API_VERSION with a default"
    return match.group(1)


def test_the_default_version_is_the_one_metas_openapi_file_describes(settings):
    head = OPENAPI_PATH.read_text()[:4000]  # the file is large: its `info` block opens it
    match = re.search(r"^info:\n(?:  .*\n)*?  version: (v\d+\.\d+)$", head, re.M)
    assert match, "Meta's OpenAPI file names no info.version"
    described = match.group(1)
    assert described == _settings_default() == settings.WHATSAPP_API_VERSION == "v23.0"


def test_the_verified_version_was_current_when_the_table_was_checked():
    status = version_status(_settings_default(), today=CHECKED_ON)
    assert status.lifecycle is Lifecycle.AVAILABLE and status.version is not None
    assert status.version.retires == dt.date(2027, 10, 8)  # Meta's versions page, checked on CHECKED_ON
