"""Settings come from the environment; production refuses to start without its secrets."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks

from tests.core.helpers import PRODUCTION_SECRETS, clean_env, run

LOAD_SETTINGS = ["-c", "import django; django.setup(); print('loaded')"]


@pytest.mark.parametrize("missing", sorted(PRODUCTION_SECRETS))
def test_production_refuses_to_start_without_each_secret(missing):
    # given production (DEBUG off) with every secret but one
    env = clean_env(DJANGO_SETTINGS_MODULE="pandorakart_wa.settings", **PRODUCTION_SECRETS)
    del env[missing]
    # when
    result = run(LOAD_SETTINGS, env)
    # then it stops, naming the missing variable
    assert result.returncode != 0
    assert f"The environment variable {missing} is required" in result.stderr
    assert "loaded" not in result.stdout


def test_production_starts_with_its_secrets():
    env = clean_env(DJANGO_SETTINGS_MODULE="pandorakart_wa.settings", **PRODUCTION_SECRETS)
    result = run(LOAD_SETTINGS, env)
    assert result.returncode == 0, result.stderr
    assert "loaded" in result.stdout


def test_debug_runs_without_secrets():
    env = clean_env(DJANGO_SETTINGS_MODULE="pandorakart_wa.settings", DEBUG="on")
    result = run(LOAD_SETTINGS, env)
    assert result.returncode == 0, result.stderr


def test_production_refuses_a_malformed_ledger_signing_key():
    # given a signing key that is no 32-byte seed
    env = clean_env(DJANGO_SETTINGS_MODULE="pandorakart_wa.settings",
                    **{**PRODUCTION_SECRETS, "LEDGER_SIGNING_KEY": "bm90LWEtc2VlZA=="})
    # when
    result = run(LOAD_SETTINGS, env)
    # then it stops at start-up, naming the variable
    assert result.returncode != 0 and "LEDGER_SIGNING_KEY must be the base64 of a 32-byte Ed25519 seed" in result.stderr


def test_check_deploy_refuses_the_debug_ledger_key(tmp_path):
    # given DEBUG's development signing key used where check --deploy runs
    env = clean_env(DJANGO_SETTINGS_MODULE="pandorakart_wa.settings", DEBUG="on",
                    LEDGER_CHECKPOINT_DIR=str(tmp_path), LEDGER_LOG_ORIGIN="wa.pandorakart.com/consent-ledger")
    # when
    result = run(["manage.py", "check", "--deploy", "--tag", "ledger"], env)
    # then it fails, naming the variable
    assert result.returncode != 0
    assert "ledger.E005" in result.stderr and "LEDGER_SIGNING_KEY" in result.stderr


def test_check_deploy_is_clean_with_production_like_settings(tmp_path):
    # given the variables a production deployment sets
    env = clean_env(
        **PRODUCTION_SECRETS,
        DJANGO_SETTINGS_MODULE="pandorakart_wa.settings",
        ALLOWED_HOSTS="wa.pandorakart.com",
        LEDGER_LOG_ORIGIN="wa.pandorakart.com/consent-ledger",
        LEDGER_CHECKPOINT_DIR=str(tmp_path / "checkpoints"),
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        REDIS_URL="redis://127.0.0.1:6379/1",
        WHATSAPP_BACKEND="cloud",
        WHATSAPP_ACCESS_TOKEN="EAAG-token",
        WHATSAPP_PHONE_NUMBER_ID="106540352242922",
        WHATSAPP_WABA_ID="102290129340398",
        WHATSAPP_APP_SECRET="6c0a1f3e9b2d4c8a7e5f1b3d9c2a4e6f",
        WHATSAPP_VERIFY_TOKEN="a-long-random-verify-token",
    )
    # when
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_cloud_backend_without_its_settings_fails_the_system_check(settings):
    # given the cloud backend with no token, phone number id or WABA id
    settings.WHATSAPP_BACKEND_NAME = "cloud"
    settings.WHATSAPP_BACKEND = "pandorakart_wa.whatsapp.backends.locmem.LocmemBackend"
    settings.WHATSAPP_ACCESS_TOKEN = ""
    settings.WHATSAPP_PHONE_NUMBER_ID = ""
    settings.WHATSAPP_WABA_ID = ""
    # when
    ids = {message.id for message in run_checks(tags=["whatsapp"])}
    # then
    assert {"whatsapp.E002", "whatsapp.E003", "whatsapp.E004"} <= ids


def test_a_ledger_origin_that_cannot_name_a_note_key_fails_the_system_check(settings):
    settings.LEDGER_LOG_ORIGIN = "pandorakart consent+ledger"
    ids = {message.id for message in run_checks(tags=["ledger"])}
    assert "ledger.E002" in ids


def test_unknown_backend_fails_the_system_check(settings):
    settings.WHATSAPP_BACKEND = "nowhere.Backend"
    ids = {message.id for message in run_checks(tags=["whatsapp"])}
    assert ids == {"whatsapp.E001"}
