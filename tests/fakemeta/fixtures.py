"""pytest fixtures for the fake Meta Graph API (registered in tests/conftest.py).

    def test_something(fake_meta):              # settings now point the `cloud` backend at it
        get_backend().send_text(to="+919812345678", body="hi")
        assert fake_meta.messages_to("+919812345678")[0]["json"]["text"]["body"] == "hi"
        fake_meta.inject("error", code=131050)   # the next send fails with Meta's 131050

`fake_meta` is a `tests.fakemeta.server.FakeMeta`: .url, .received, .messages_to(phone),
.counts(), .inject(kind, **spec), .clear_faults(), .set_latency(ms), .set_template_status(id,
status), .violations, .profiles, .templates, .reset(). One server per test session; every test
starts from a reset server and a fresh backend instance.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pandorakart_wa.whatsapp import reset_backend
from tests.fakemeta.server import FakeMeta

CLOUD_BACKEND = "pandorakart_wa.whatsapp.backends.cloud.CloudBackend"


@pytest.fixture(scope="session")
def fake_meta_server() -> Iterator[FakeMeta]:
    """The fake Graph API, serving from a background thread for the whole session."""
    server = FakeMeta().start()
    yield server
    server.stop()


@pytest.fixture
def fake_meta(fake_meta_server: FakeMeta, settings: Any) -> Iterator[FakeMeta]:
    """The fake server, reset, with the `cloud` backend configured to talk to it."""
    fake_meta_server.reset()
    settings.WHATSAPP_BACKEND = CLOUD_BACKEND
    settings.WHATSAPP_GRAPH_URL = fake_meta_server.url
    settings.WHATSAPP_ACCESS_TOKEN = fake_meta_server.token
    reset_backend()
    yield fake_meta_server
    reset_backend()
    fake_meta_server.reset()
