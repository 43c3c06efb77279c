"""No full phone number in a real access log: gunicorn's (gunicorn.conf.py) and runserver's."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from benchmarks.common_send import free_port, wait_for
from tests.core.helpers import PRODUCTION_SECRETS, ROOT, clean_env

pytestmark = pytest.mark.slow

NUMBER = "9876543210"  # no form of it may reach a log: +91…, %2B91…, 0…, wa_id digits
PATHS = [
    "/api/v1/consents/+919876543210",
    "/api/v1/consents/09876543210",
    "/api/v1/privacy/export?phone=%2B919876543210",
    "/api/v1/privacy/export?phone=91+98765+43210",
    "/api/v1/consents/919876543210?page=1",
]


def _env(tmp_path: Path) -> dict[str, str]:
    return clean_env(
        **PRODUCTION_SECRETS,
        DJANGO_SETTINGS_MODULE="pandorakart_wa.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        RUN_DIR=str(tmp_path / "run"),
        HTTPS_ONLY="off",
        ALLOWED_HOSTS="127.0.0.1",
    )


def _up(url: str) -> bool:
    with contextlib.suppress(requests.RequestException):
        return requests.get(f"{url}/api/v1/ping", timeout=2).status_code == 401
    return False


def _asked(log: str) -> int:
    return sum(1 for line in log.splitlines() if "GET /api/v1/consents/" in line or "GET /api/v1/privacy/" in line)


def _request_every_path(url: str) -> None:
    wait_for(lambda: _up(url), 60, 0.2, "the web server")
    for path in PATHS:
        assert requests.get(f"{url}{path}", timeout=10).status_code in (400, 401)


def test_gunicorn_access_log_holds_no_phone_number(tmp_path):
    # given gunicorn started from the repository root (so it reads gunicorn.conf.py), as in production
    access_log, error_log = tmp_path / "access.log", tmp_path / "error.log"
    port = free_port()
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "pandorakart_wa.wsgi", "--workers", "1", "--threads", "2",
         "--bind", f"127.0.0.1:{port}", "--access-logfile", str(access_log), "--error-logfile", str(error_log)],
        cwd=ROOT, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # when the storefront asks about a number in every way a URL can carry it
        _request_every_path(url)
        wait_for(lambda: _asked(access_log.read_text()) == len(PATHS), 10, 0.1, "the access log")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    # then each request is logged, masked
    log = access_log.read_text()
    assert _asked(log) == len(PATHS), log
    assert "/api/v1/consents/+91******3210 " in log
    assert "/api/v1/privacy/export?phone=%2B91******3210 " in log
    assert NUMBER not in log and "98765" not in log and "43210" not in log.replace("*3210", "")
    assert NUMBER not in error_log.read_text()


def test_runserver_request_log_holds_no_phone_number(tmp_path):
    # given Django's development server (its request lines go to the django.server logger)
    output = tmp_path / "runserver.log"
    port = free_port()
    with output.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
            cwd=ROOT, env=_env(tmp_path), stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        # when
        _request_every_path(url)
        time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    # then
    log = output.read_text()
    assert _asked(log) == len(PATHS), log
    assert "/api/v1/consents/+91******3210 HTTP/1.1" in log
    assert NUMBER not in log and "98765" not in log
