"""Settings for the test suite: the production settings module with test-only environment.

The suite runs against the machine's real PostgreSQL and Redis (README: "Tests"). Anything set
in the environment wins, so one can point the suite elsewhere.
"""

import os
import tempfile

_TEST_ENV = {
    "DEBUG": "off",
    "SECRET_KEY": "test-secret-key-not-for-production-0123456789abcdefghijklmnop",
    "FIELD_ENCRYPTION_KEYS": "dGVzdC1rZXktb25lLXRlc3Qta2V5LW9uZS10ZXN0LWs=",
    "PII_HASH_KEY": "test-pii-hash-key-0123456789abcdefghijklmnop",
    # The ledger's checkpoint key (base64 of a 32-byte seed) and a log name of its own.
    "LEDGER_SIGNING_KEY": "dGVzdC1sZWRnZXItc2lnbmluZy1rZXktMDEyMzQ1Njc=",
    "LEDGER_LOG_ORIGIN": "test.pandorakart.example/consent-ledger",
    "HTTPS_ONLY": "off",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/pandorakart_wa",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "CELERY_TASK_ALWAYS_EAGER": "on",
    "WHATSAPP_BACKEND": "locmem",
    "WHATSAPP_APP_SECRET": "0123456789abcdef0123456789abcdef",  # Meta's form: 32 hex digits
    "WHATSAPP_VERIFY_TOKEN": "test-verify-token",
    "WHATSAPP_ACCESS_TOKEN": "test-access-token",
    "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
    "WHATSAPP_WABA_ID": "102290129340398",
    "API_THROTTLE_RATE": "100000/min",
    # Status webhooks applied before the answer, so tests can look at once; the deferred path
    # (the production default) has its own tests, and the reliability tests run with it.
    "WEBHOOK_DEFER": "off",
}
for _name, _value in _TEST_ENV.items():
    os.environ.setdefault(_name, _value)

from pandorakart_wa.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
MEDIA_ROOT = tempfile.mkdtemp(prefix="pandorakart-test-media-")
# Checkpoints written outside the database: a fresh directory per run (the ledger tests clean it).
LEDGER_CHECKPOINT_DIR = tempfile.mkdtemp(prefix="pandorakart-test-checkpoints-")
