from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.profile import notifiers


@pytest.fixture(autouse=True)
def _no_notifier_calls() -> Iterator[None]:
    notifiers.calls.clear()
    yield
    notifiers.calls.clear()


@pytest.fixture
def meta_profile(fake_meta: Any, settings: Any) -> dict[str, Any]:
    """Meta's copy of the business profile on the fake server (edit it to simulate an edit made
    in WhatsApp Manager)."""
    profile: dict[str, Any] = fake_meta.profiles.setdefault(settings.WHATSAPP_PHONE_NUMBER_ID, {})
    return profile


@pytest.fixture
def locmem_profile(settings: Any) -> None:
    """The in-memory backend, for the tests that do not need HTTP."""
    from pandorakart_wa.whatsapp import reset_backend

    settings.WHATSAPP_BACKEND = "pandorakart_wa.whatsapp.backends.locmem.LocmemBackend"
    reset_backend()


@pytest.fixture
def eager_retries() -> Iterator[None]:
    """Eager tasks run their retries at once (Celery re-applies a retried eager task only when
    the error does not propagate; tests/settings.py propagates by default)."""
    from pandorakart_wa.celery import app

    previous = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = previous
