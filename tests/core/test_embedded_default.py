"""The run command's zero-setup default: SQLite, the embedded broker, the sandbox backend."""

from __future__ import annotations

import pytest

from tests.core.helpers import PRODUCTION_SECRETS, clean_env, run

HEALTH = [
    "-c",
    "import django; django.setup();"
    "from django.test import Client;"
    "r = Client().get('/health');"
    "print(r.status_code, r.content.decode())",
]


@pytest.mark.slow
def test_fresh_sqlite_migrates_seeds_twice_and_is_healthy(tmp_path):
    # given a fresh SQLite file and no broker server
    env = clean_env(
        **PRODUCTION_SECRETS,
        DJANGO_SETTINGS_MODULE="pandorakart_wa.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        HTTPS_ONLY="off",
        ALLOWED_HOSTS="testserver,localhost",
        DEMO_ADMIN_PASSWORD="demo-password-123",
    )
    # when
    migrate = run(["manage.py", "migrate", "--noinput"], env, timeout=300)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    for _ in range(2):  # seed_demo is idempotent
        seed = run(["manage.py", "seed_demo"], env, timeout=300)
        assert seed.returncode == 0, seed.stdout + seed.stderr
    health = run(HEALTH, env)
    # then
    assert health.returncode == 0, health.stderr
    assert health.stdout.strip() == '200 {"database": "ok", "broker": "ok"}'
    assert "Admin login: admin / demo-password-123" in seed.stdout


def test_the_embedded_broker_connects_without_kombus_hostname_warning(tmp_path):
    # given the run command's default broker (no CELERY_BROKER_URL)
    env = clean_env(**PRODUCTION_SECRETS, DJANGO_SETTINGS_MODULE="pandorakart_wa.settings", RUN_DIR=str(tmp_path))
    # when a connection is opened, as a worker, beat and every publish do
    result = run(["-c", "import django; django.setup(); from pandorakart_wa.celery import app;"
                        "c = app.connection_for_write(); c.ensure_connection(max_retries=1); c.info();"
                        "print(app.conf.broker_url)"], env)
    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "filesystem://localhost/"
    assert "No hostname was supplied" not in result.stderr
    assert (tmp_path / "broker").is_dir()  # RUN_DIR moves the run command's files
