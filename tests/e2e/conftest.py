"""Browser-test rig: Playwright for Python driving Debian's Chromium against pytest-django's
live_server (a real HTTP server on a transactional test database).

Fixtures: `browser` (session), `page` (a fresh context per test, screenshot on failure),
`staff_user(role)` (a staff user in a role group with a TOTP device), `sign_in(page, user)`
(types username, password and the current TOTP code), `screenshot(page, name)`.
Nothing is downloaded: the browser is /usr/bin/chromium (`make browser-deps` installs it).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from tests.backoffice.helpers import STAFF_PASSWORD, current_code, make_staff

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 10_000
LAPTOP: ViewportSize = {"width": 1366, "height": 768}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    """Keep each phase's report on the test item, so `page` can screenshot a failed test."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # still synchronous, so Django's async-safety guard must stand aside for the browser tests.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """screenshot(page, "name") -> test-artifacts/<test>-<name>.png (full page)."""

    def take(page: Page, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{_slug(request.node.name)}-{_slug(name)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def page(
    browser: Browser, live_server: Any, request: pytest.FixtureRequest, screenshot: Callable[[Page, str], Path]
) -> Iterator[Page]:
    # the common laptop screen staff work on (issue 16): every page must fit it
    context = browser.new_context(base_url=live_server.url, viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    (ARTIFACTS / f"{_slug(request.node.name)}-FAILED.png").unlink(missing_ok=True)  # from an earlier run
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        with contextlib.suppress(Exception):  # a failed screenshot must not hide the test's failure
            screenshot(tab, "FAILED")
    context.close()


@pytest.fixture
def staff_user(transactional_db: Any) -> Callable[..., Any]:
    """staff_user("Compliance officer", username=None) -> a staff user in that group with a
    confirmed TOTP device; the password is tests.backoffice.helpers.STAFF_PASSWORD."""
    counter = iter(range(1, 10_000))

    def make(role: str | None, *, username: str | None = None, **extra: Any) -> Any:
        name = username or f"{_slug(role or 'staff').lower()}-{next(counter)}"
        return make_staff(name, role, **extra)

    return make


def sign_in(page: Page, user: Any, *, code: str | None = None, password: str = STAFF_PASSWORD) -> None:
    """Open the admin sign-in page and submit username, password and the current TOTP code
    (or `code`). Does not assert the outcome."""
    if code is None:
        code = current_code(TOTPDevice.objects.get(user=user, confirmed=True))
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", password)
    page.fill("#id_otp_token", code)
    page.click("#login-form input[type=submit]")
    page.wait_for_load_state()
