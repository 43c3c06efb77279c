"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from pandorakart_wa.whatsapp import reset_backend
from pandorakart_wa.whatsapp.backends import locmem
from tests.fakemeta.fixtures import fake_meta, fake_meta_server  # noqa: F401 (fixtures)


@pytest.fixture(autouse=True)
def _fresh_gateway() -> Iterator[None]:
    """Each test starts with an empty locmem outbox, a fresh backend instance and no cached
    consent notices or keywords (their rows are rolled back between tests)."""
    from complaints.webhooks import triggers_cache_clear
    from consent.selectors import notice_cache_clear
    from pandorakart_wa.core.audit import system_user_cache_clear
    from pandorakart_wa.webhooks import keywords

    locmem.reset()
    reset_backend()
    notice_cache_clear()
    keywords.cache_clear()
    system_user_cache_clear()
    triggers_cache_clear()
    yield
    reset_backend()
    notice_cache_clear()
    keywords.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_rate_limiters() -> Iterator[None]:
    """Each test starts with unused send-rate limiters (the in-process ones keep state)."""
    from messaging import ratelimit

    ratelimit._pair_limiter.cache_clear()
    ratelimit._throughput_limiter.cache_clear()
    yield
    ratelimit._pair_limiter.cache_clear()
    ratelimit._throughput_limiter.cache_clear()


@pytest.fixture(autouse=True)
def _own_checkpoint_dir(settings: Any, tmp_path: Any) -> None:
    """Each test writes the ledger's checkpoints to a directory of its own: the database rolls
    back between tests, files would not."""
    settings.LEDGER_CHECKPOINT_DIR = tmp_path / "ledger-checkpoints"


@pytest.fixture
def replace_hooks() -> Iterator[Any]:
    """`replace_hooks(hook, [fn, ...])`: only these functions on that hook (pandorakart_wa.core.hooks)
    until the test ends."""
    import contextlib

    with contextlib.ExitStack() as stack:
        yield lambda hook, fns: stack.enter_context(hook.replaced(fns))


@pytest.fixture
def no_quiet_hours(db: Any) -> None:
    """Marketing may leave at any hour: without this, a test that sends marketing passes by day
    and fails between 21:00 and 09:00 India time (the default quiet hours), as CI found at 21:11."""
    quiet_hours_off()


def quiet_hours_off() -> None:
    """no_quiet_hours, for helpers that set up their own data (the browser tests' stories)."""
    import datetime as dt

    from messaging.models import SendingPolicy

    SendingPolicy.objects.update_or_create(pk=1, defaults={"quiet_hours_start": dt.time(0, 0),
                                                           "quiet_hours_end": dt.time(0, 0)})


@pytest.fixture
def outbox() -> list[dict[str, Any]]:
    """What the locmem WhatsApp backend 'sent' during the test."""
    return locmem.outbox


@pytest.fixture
def api_key(db: Any) -> tuple[Any, str]:
    """A storefront API key with every scope: (model, plain key)."""
    from pandorakart_wa.core.api.keys import api_key_create

    return api_key_create(name="storefront-test")


@pytest.fixture
def api_client(api_key: tuple[Any, str]) -> APIClient:
    """A DRF client that sends the storefront's API key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}")
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


# --- Staff in the admin: two-factor sign-in (tests/backoffice/helpers.py) -----------------


@pytest.fixture
def admin_client(client: Any, admin_user: Any) -> Any:
    """pytest-django's admin_client, but OTP-verified: the admin requires a TOTP device."""
    from tests.backoffice.helpers import otp_force_login

    return otp_force_login(client, admin_user)


@pytest.fixture
def otp_client(db: Any) -> Any:
    """otp_client(user) -> a new Django test client signed in as `user` with 2FA done."""
    from django.test import Client

    from tests.backoffice.helpers import otp_force_login

    return lambda user: otp_force_login(Client(), user)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> None:
    """pytest-django's database setup, then a snapshot of the role groups and their permissions
    so that transactional tests can restore them after a flush (tests/backoffice/helpers.py)."""
    from tests.backoffice.helpers import snapshot_roles

    with django_db_blocker.unblock():
        snapshot_roles()
