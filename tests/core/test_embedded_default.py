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
