"""Every secret is validated at start-up and by `check --deploy`; so is the Graph API version."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.fernet import Fernet
from django.core.checks import run_checks

from pandorakart_wa.core.secret_checks import core_secret_problems, whatsapp_secret_problems
from pandorakart_wa.whatsapp.versions import GRAPH_API_VERSIONS, Lifecycle, version_status
from tests.core.helpers import PRODUCTION_SECRETS, clean_env, run

GOOD_APP_SECRET = "6c0a1f3e9b2d4c8a7e5f1b3d9c2a4e6f"
CLOUD = {
    "WHATSAPP_BACKEND": "cloud",
    "WHATSAPP_ACCESS_TOKEN": "EAAG-token",
    "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
    "WHATSAPP_WABA_ID": "102290129340398",
    "WHATSAPP_APP_SECRET": GOOD_APP_SECRET,
    "WHATSAPP_VERIFY_TOKEN": "a-long-random-verify-token",
}
PRODUCTION = {
    **PRODUCTION_SECRETS,
    **CLOUD,
    "DJANGO_SETTINGS_MODULE": "pandorakart_wa.settings",
    "ALLOWED_HOSTS": "wa.pandorakart.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
}
CHECK_DEPLOY = ["manage.py", "check", "--deploy", "--fail-level", "WARNING"]

MALFORMED = [
    ("SECRET_KEY", "short-key", "SECRET_KEY: must be a random value of at least 50 characters"),
    ("SECRET_KEY", "django-insecure-" + "x7Qa9" * 10, "SECRET_KEY: must be a random value"),
    ("FIELD_ENCRYPTION_KEYS", "not a fernet key", "FIELD_ENCRYPTION_KEYS: key 1 of 1 is not url-safe base64"),
    ("FIELD_ENCRYPTION_KEYS", "bm90LWEta2V5", "FIELD_ENCRYPTION_KEYS: key 1 of 1 does not decode to exactly 32 bytes"),
    ("FIELD_ENCRYPTION_KEYS", f"{Fernet.generate_key().decode()},c2hvcnQ=",
     "FIELD_ENCRYPTION_KEYS: key 2 of 2 does not decode to exactly 32 bytes"),
    ("WHATSAPP_APP_SECRET", "app-secret", "WHATSAPP_APP_SECRET: is not a Meta app secret"),
    ("WHATSAPP_APP_SECRET", "", "WHATSAPP_APP_SECRET: is required by the cloud backend"),
    ("WHATSAPP_VERIFY_TOKEN", "token", "WHATSAPP_VERIFY_TOKEN: must be at least 16 characters"),
    ("WHATSAPP_VERIFY_TOKEN", "", "WHATSAPP_VERIFY_TOKEN: is required by the cloud backend"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("variable", "value", "message"), MALFORMED, ids=[f"{m[0]}={m[1][:12]}" for m in MALFORMED])
def test_check_deploy_fails_naming_each_malformed_secret(variable, value, message):
    # given production settings with one malformed secret
    env = clean_env(**{**PRODUCTION, variable: value})
    # when
    result = run(CHECK_DEPLOY, env)
    # then the process stops before anything runs, naming the variable and never the value
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-2000:]
    if len(value) > 8:
        assert value not in result.stderr


@pytest.mark.parametrize(("value", "message"), [
    ("too-short", "PII_HASH_KEY should be a random value of at least 32 characters"),
    (PRODUCTION_SECRETS["SECRET_KEY"], "PII_HASH_KEY should be a key of its own"),
])
def test_a_weak_digest_key_fails_check_deploy_without_stopping_a_running_service(value, message):
    # given production settings whose PII_HASH_KEY is weak (it cannot be changed once digests exist)
    env = clean_env(**{**PRODUCTION, "PII_HASH_KEY": value})
    # when
    started = run(["-c", "import django; django.setup(); print('loaded')"], env)
    checked = run(CHECK_DEPLOY, env)
    # then the service starts, and the deploy check fails on a warning naming it
    assert started.returncode == 0 and "loaded" in started.stdout, started.stderr[-2000:]
    assert checked.returncode != 0
    assert "secrets.W003" in checked.stderr and message in checked.stderr


def test_a_good_set_of_secrets_passes_the_secrets_check(settings):
    settings.WHATSAPP_BACKEND_NAME = "cloud"
    settings.WHATSAPP_APP_SECRET = GOOD_APP_SECRET
    assert run_checks(tags=["secrets"]) == []


def test_the_secrets_check_reports_what_start_up_would_refuse(settings):
    # given (DEBUG on would start) a field key that is not a Fernet key and a short digest key
    settings.FIELD_ENCRYPTION_KEYS = ["0123456789"]
    settings.PII_HASH_KEY = "short"
    # when
    messages = run_checks(tags=["secrets"])
    # then
    assert {(m.id, m.msg.split(" ")[0]) for m in messages} == {
        ("secrets.E002", "FIELD_ENCRYPTION_KEYS"), ("secrets.W003", "PII_HASH_KEY")}


def test_the_webhook_secrets_are_only_checked_for_the_real_meta():
    assert whatsapp_secret_problems(backend="sandbox", app_secret="", verify_token="") == []
    assert [p.variable for p in whatsapp_secret_problems(backend="cloud", app_secret="ABC", verify_token="x y")] == [
        "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"]


def test_an_empty_key_list_is_reported():
    problems = core_secret_problems(secret_key=PRODUCTION_SECRETS["SECRET_KEY"], field_encryption_keys=[],
                                    pii_hash_key=PRODUCTION_SECRETS["PII_HASH_KEY"])
    assert [str(p) for p in problems] == ["FIELD_ENCRYPTION_KEYS: holds no key"]


# --- WHATSAPP_API_VERSION ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "today", "lifecycle", "days_left"),
    [
        ("v23.0", dt.date(2026, 12, 1), Lifecycle.AVAILABLE, 311),
        ("v23.0", dt.date(2027, 7, 10), Lifecycle.RETIRING_SOON, 90),
        ("v23.0", dt.date(2027, 7, 9), Lifecycle.AVAILABLE, 91),
        ("v23.0", dt.date(2027, 10, 8), Lifecycle.RETIRED, 0),
        ("v21.0", dt.date(2026, 12, 1), Lifecycle.RETIRING_SOON, 51),
        ("v20.0", dt.date(2026, 12, 1), Lifecycle.RETIRED, -68),
        ("v26.0", dt.date(2026, 12, 1), Lifecycle.AVAILABLE, None),  # retirement not announced
        ("v8.0", dt.date(2026, 12, 1), Lifecycle.RETIRED, None),  # older than the table
        ("v99.0", dt.date(2026, 12, 1), Lifecycle.UNKNOWN, None),
        ("23.0", dt.date(2026, 12, 1), Lifecycle.MALFORMED, None),
    ],
)
def test_version_lifecycle_from_metas_published_dates(version, today, lifecycle, days_left):
    status = version_status(version, today=today)
    assert (status.lifecycle, status.days_left) == (lifecycle, days_left)
    assert status.summary  # every state reads as a sentence


def test_the_table_is_newest_first_with_retirements_after_releases():
    releases = [v.released for v in GRAPH_API_VERSIONS]
    assert releases == sorted(releases, reverse=True)
    assert all(v.retires is None or v.retires > v.released for v in GRAPH_API_VERSIONS)


def test_a_retired_version_fails_check_deploy():
    env = clean_env(**{**PRODUCTION, "WHATSAPP_API_VERSION": "v19.0"})
    result = run(CHECK_DEPLOY, env)
    assert result.returncode != 0
    assert "whatsapp.E008" in result.stderr and "Meta retired v19.0 on 21 May 2026" in result.stderr


def test_a_version_retiring_within_90_days_is_a_warning(settings, monkeypatch):
    # given a clock 30 days before v23.0's retirement
    monkeypatch.setattr("pandorakart_wa.checks.timezone.now", lambda: dt.datetime(2027, 9, 8, tzinfo=dt.UTC))
    settings.WHATSAPP_API_VERSION = "v23.0"
    # when
    messages = [m for m in run_checks(tags=["whatsapp"]) if m.id is not None and m.id.startswith("whatsapp.")]
    # then
    assert [(m.id, m.level) for m in messages] == [("whatsapp.W002", 30)]
    assert "in 30 days" in messages[0].msg


def test_the_configured_default_version_passes(settings):
    assert [m.id for m in run_checks(tags=["whatsapp"])] == []
