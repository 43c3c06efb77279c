"""Settings for the PandoraKart WhatsApp compliance back office.

Everything comes from the environment (django-environ); API.md lists every variable and
`.env.example` shows them. A `.env` file beside manage.py is read when present; the run
command writes one with locally generated secrets on its first start.
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# ENV_FILE points elsewhere (or at /dev/null) when the local .env must not be read.
environ.Env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)


def _required(name: str, *, debug_default: str | None = None) -> str:
    """A production secret: fail at start-up, naming the variable, when it is missing."""
    value: str = env.str(name, default="")
    if value:
        return value
    if DEBUG and debug_default is not None:
        return debug_default
    raise ImproperlyConfigured(
        f"The environment variable {name} is required when DEBUG is off "
        f"(see .env.example and the README's Configuration section)."
    )


# --- Core ---------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = _required("SECRET_KEY", debug_default="django-insecure-debug-only-key-" + "x" * 32)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # The admin with two-factor sign-in: django.contrib.admin's own app config whose default
    # site (admin.site) is the OTP-verified StaffAdminSite (pandorakart_wa/backoffice/admin/site.py).
    "pandorakart_wa.backoffice.admin.apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here: /api/docs/ works offline
    "django_prometheus",  # request metrics for GET /metrics (pandorakart_wa/metrics.py)
    "auditlog",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "pandorakart_wa.apps.CoreConfig",
    "profile.apps.ProfileConfig",
    "consent.apps.ConsentConfig",
    "messaging.apps.MessagingConfig",
    "complaints.apps.ComplaintsConfig",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",  # first: times the whole request
    "pandorakart_wa.core.middleware.CorrelationIdMiddleware",
    "pandorakart_wa.core.middleware.BodySizeLimitMiddleware",
    "pandorakart_wa.core.middleware.ApiTimesInUtcMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "pandorakart_wa.backoffice.admin.security.StaffSessionTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a lockout into the lockout page
    "django_prometheus.middleware.PrometheusAfterMiddleware",  # last: sees the final response
]

ROOT_URLCONF = "pandorakart_wa.urls"
WSGI_APPLICATION = "pandorakart_wa.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The run command's zero-setup database: web, worker and beat write concurrently, so take
    # the write lock up front (no upgrade deadlocks) and wait for it instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # Connections stay bounded however many threads or greenlets a process runs: a gevent
    # worker's greenlet keeps no connection after its task with CONN_MAX_AGE=0 (README,
    # "Production deployment"); DATABASE_POOL_MAX_SIZE > 0 uses Django's psycopg pool instead,
    # at most that many connections per process (a request waits for one, up to 10 s).
    DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=0)
    if DATABASE_POOL_MAX_SIZE > 0:
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them: Django forbids both
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1, "max_size": DATABASE_POOL_MAX_SIZE, "timeout": 10,
        }
    else:
        DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Django turns psycopg's prepared statements off (for transaction-mode poolers). Django's own
    # cursors bind client-side and never prepare, whatever this says; a threshold no query
    # reaches lets only the statements asked for explicitly be prepared (the consent ledger's
    # append and the message intake, on the request path: pandorakart_wa/core/sql.py). Off behind a pooler
    # that cannot keep prepared statements (PgBouncer before 1.21 in transaction mode).
    if env.bool("DB_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 2**31 - 1)

# --- Cache and Redis ----------------------------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {  # Django's Redis cache, keeping its client (core/cache.py says why)
        "default": {"BACKEND": "pandorakart_wa.core.cache.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Security -----------------------------------------------------------------------------

# HTTPS_ONLY is on in production (TLS terminated at the proxy); the run command turns it off
# because it serves plain http on localhost.
HTTPS_ONLY = env.bool("HTTPS_ONLY", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = HTTPS_ONLY
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]  # probes and scrapes from inside the network speak plain http
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS_ONLY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS_ONLY
SECURE_HSTS_PRELOAD = HTTPS_ONLY
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 60 * 60)  # one working day
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# Staff sessions also end after this long without a request (pandorakart_wa/backoffice/admin/security.py);
# SESSION_COOKIE_AGE stays the absolute limit from sign-in.
STAFF_IDLE_TIMEOUT = env.int("STAFF_IDLE_TIMEOUT", default=30 * 60)
X_FRAME_OPTIONS = "DENY"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Staff sign-in: password + TOTP code (django-otp), lockout after repeated failures (django-axes).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out username+IP
    "django.contrib.auth.backends.ModelBackend",
]
OTP_TOTP_ISSUER = "PandoraKart compliance"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin never shows a TOTP key or its QR code again
# A staff user without a confirmed device may enrol one after the password step (self-service).
STAFF_OTP_SELF_ENROLMENT = env.bool("STAFF_OTP_SELF_ENROLMENT", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
# The client address is REMOTE_ADDR (django-ipware is not installed): behind a reverse proxy every
# attempt shares the proxy's address, so the lockout then works per username.

# --- Personal data ------------------------------------------------------------------------

# Fernet keys for phone numbers at rest, comma-separated, newest first (older keys still
# decrypt, so a key can be rotated without rewriting every row at once).
FIELD_ENCRYPTION_KEYS = [k.strip() for k in _required("FIELD_ENCRYPTION_KEYS", debug_default="").split(",") if k.strip()]
if not FIELD_ENCRYPTION_KEYS:
    # DEBUG only: a fixed development key, never valid outside DEBUG (see _required).
    FIELD_ENCRYPTION_KEYS = ["ZGV2ZWxvcG1lbnQtb25seS1rZXktbm90LWZvci1wcm8="]
PII_HASH_KEY = _required("PII_HASH_KEY", debug_default="development-only-pii-hash-key-not-for-production")
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="IN")
# DPDP access and erasure, policy notices, failed-send signals and the sandbox's status webhooks
# span apps: pandorakart_wa/wiring.py connects them with real imports (no dotted paths here).

# --- Consent ledger (a verifiable log, consent/log.py) --------------------------------------

# The Ed25519 key that signs the ledger's checkpoints: the base64 of a 32-byte seed, from the
# environment only (never the database: whoever can write the database must not be able to
# sign). DEBUG alone has a fixed development key, which `check --deploy` refuses.
DEBUG_LEDGER_SIGNING_KEY = "ZGV2ZWxvcG1lbnQtb25seS1sZWRnZXIta2V5LTAwMDA="
LEDGER_SIGNING_KEY = _required("LEDGER_SIGNING_KEY", debug_default=DEBUG_LEDGER_SIGNING_KEY)
try:
    if len(base64.b64decode(LEDGER_SIGNING_KEY.strip(), validate=True)) != 32:
        raise ValueError("not 32 bytes")
except (ValueError, binascii.Error) as _exc:
    raise ImproperlyConfigured(
        f"LEDGER_SIGNING_KEY must be the base64 of a 32-byte Ed25519 seed ({_exc}); generate one with "
        "python -c \"import base64,os; print(base64.b64encode(os.urandom(32)).decode())\""
    ) from None
# The checkpoint's origin line and the signing key's name: never change it once checkpoints
# exist (it names the log). Default: the first host name + /consent-ledger.
_ORIGIN_HOST = next((h.lstrip(".") for h in ALLOWED_HOSTS if h and h != "*"), "localhost")
LEDGER_LOG_ORIGIN = env.str("LEDGER_LOG_ORIGIN", default=f"{_ORIGIN_HOST}/consent-ledger")
LEDGER_LOG_ORIGIN_DEFAULTED = "LEDGER_LOG_ORIGIN" not in env
# A new checkpoint is signed at most this often, when events arrived (API.md: a receipt's
# events are in a signed checkpoint within this time).
LEDGER_CHECKPOINT_SECONDS = env.int("LEDGER_CHECKPOINT_SECONDS", default=10)
# Every checkpoint is also written here, outside the database (a volume, a bucket; write-once).
LEDGER_CHECKPOINT_DIR = env.path("LEDGER_CHECKPOINT_DIR", default=str(BASE_DIR / "ledger-checkpoints"))
# Verifier keys (<name>+<key id>+<key>) of earlier signing keys, comma-separated: checkpoints
# signed before a key rotation still verify.
LEDGER_VERIFIER_KEYS = env.list("LEDGER_VERIFIER_KEYS", default=[])

# --- Consent: the customer's preference centre ---------------------------------------------

# Where customers reach this service: the base of the signed preference links in WhatsApp
# replies and in POST /api/v1/preferences/link (no request to take a host from in a worker).
# Default: the first ALLOWED_HOSTS name, https unless HTTPS_ONLY is off.
PUBLIC_BASE_URL = env.str(
    "PUBLIC_BASE_URL", default=f"{'https' if HTTPS_ONLY else 'http'}://{_ORIGIN_HOST}"
).rstrip("/")
# How long a signed preference link works (API.md: default 7 days).
PREFERENCE_LINK_DAYS = env.int("PREFERENCE_LINK_DAYS", default=7)

# --- Internationalisation -----------------------------------------------------------------

LANGUAGE_CODE = "en"
TIME_ZONE = "Asia/Kolkata"  # shown to staff; everything is stored and served in UTC
# Staff screens write times as "1 Dec 2026, 16:06:46 IST" (pandorakart_wa/formats/en/formats.py).
FORMAT_MODULE_PATH = ["pandorakart_wa.formats"]
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded files (campaign audience CSVs). With workers on several machines, a shared volume.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / "media"))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- REST API -----------------------------------------------------------------------------

API_MAX_BODY_BYTES = 1 * 1024 * 1024  # API.md: 413 over 1 MiB
WEBHOOK_MAX_BODY_BYTES = 3 * 1024 * 1024  # Meta batches up to 3 MB per POST
DATA_UPLOAD_MAX_MEMORY_SIZE = WEBHOOK_MAX_BODY_BYTES
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="6000/min")
# A verified API key is remembered by each process this long (0: never); a change to any key row
# (revoked, expired, new scopes) is seen by the next request anyway (pandorakart_wa/core/api/auth.py).
API_KEY_CACHE_SECONDS = env.int("API_KEY_CACHE_SECONDS", default=60)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["pandorakart_wa.core.api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["pandorakart_wa.core.api.auth.HasApiKey"],
    "DEFAULT_THROTTLE_CLASSES": ["pandorakart_wa.core.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": API_THROTTLE_RATE},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "pandorakart_wa.core.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "iso-8601",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "PandoraKart WhatsApp compliance API",
    "DESCRIPTION": "Consent, messages, templates, complaints and business profile (see API.md).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the pinned drf-spectacular-sidecar package (static files), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Audit --------------------------------------------------------------------------------

AUDITLOG_CID_GETTER = "pandorakart_wa.core.correlation.get_correlation_id"
AUDITLOG_STORE_JSON_CHANGES = True

# --- Celery -------------------------------------------------------------------------------

RUN_DIR = Path(env.str("RUN_DIR", default=str(BASE_DIR / ".run")))  # embedded broker, beat schedule, sandbox state
# The embedded broker's URL names a host it never uses: without one, kombu logs "No hostname was
# supplied. Reverting to default 'localhost'" at every connection (8 times at each start).
EMBEDDED_BROKER_URL = "filesystem://localhost/"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=EMBEDDED_BROKER_URL)
if CELERY_BROKER_URL in ("filesystem://", "filesystem:///"):
    CELERY_BROKER_URL = EMBEDDED_BROKER_URL
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The run command's embedded broker: kombu's filesystem transport needs no server.
    _broker_dir = RUN_DIR / "broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(RUN_DIR / "broker-processed"),
        "store_processed": False,
        "control_folder": str(RUN_DIR / "broker-control"),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A task not acknowledged within this time is redelivered: longer than any task runs.
        "visibility_timeout": 60 * 60,
        # A publish with the broker down fails at once instead of retrying to connect for ~6 s
        # inside the web request (the message row is the outbox: the sweeper sends it later).
        # Publishes still retry a lost connection (task_publish_retry_policy); workers reconnect.
        "max_retries": 0,
        "socket_connect_timeout": 2,
    }
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False  # at-most-once sends: a lost task is reconciled, not re-run
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=5 * 60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=6 * 60)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "celery.beat:PersistentScheduler"
CELERY_BEAT_SCHEDULE_FILENAME = str(RUN_DIR / "celerybeat-schedule")
# The beat schedule lives here, in code. Each app adds its periodic jobs below.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "core-heartbeat": {
        "task": "pandorakart_wa.tasks.heartbeat",
        "schedule": timedelta(minutes=1),
    },
    # Message templates: pull Meta's status, quality and category (webhooks may be missed).
    "messaging-template-sync": {
        "task": "messaging.tasks.template_sync_task",
        "schedule": timedelta(minutes=10),
    },
    # Message templates: apply the recategorisations Meta announced in advance, once due (Meta's
    # own webhook at that time usually comes first and clears the schedule).
    "messaging-template-scheduled-categories": {
        "task": "messaging.tasks.template_apply_scheduled_categories_task",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 4 * 60},
    },
    # Consent: nightly proof that the ledger is intact against every checkpoint (the dashboard
    # shows the run).
    "consent-ledger-verify": {
        "task": "consent.tasks.consent_ledger_verify_task",
        "schedule": crontab(hour=2, minute=30),
    },
    # Consent: the ledger's sequencer (positions, the Merkle tree, signed checkpoints). Every
    # second, each run expiring before the next: a run with nothing to do is one indexed query.
    "consent-ledger-sequence": {
        "task": "consent.tasks.consent_ledger_sequence_task",
        "schedule": timedelta(seconds=1),
        "options": {"expires": 5},
    },
}
_ = crontab  # imported for the apps' schedule entries

# Business profile: push local changes to Meta and detect drift. Each run expires unstarted
# before the next is due, so a slow Meta cannot pile runs up (a run also skips if one holds the lock).
PROFILE_SYNC_INTERVAL_MINUTES = env.int("PROFILE_SYNC_INTERVAL_MINUTES", default=15)
CELERY_BEAT_SCHEDULE["profile-sync"] = {
    "task": "profile.tasks.profile_sync_task",
    "schedule": timedelta(minutes=PROFILE_SYNC_INTERVAL_MINUTES),
    "options": {"expires": max(PROFILE_SYNC_INTERVAL_MINUTES * 60 - 30, 30)},
}
# Daily: flag overdue policy reviews and regulatory-register entries to Compliance officers.
CELERY_BEAT_SCHEDULE["profile-compliance-reviews"] = {
    "task": "profile.tasks.compliance_reviews_task",
    "schedule": crontab(hour=3, minute=45),  # 09:15 in India
    "options": {"expires": 6 * 60 * 60},
}

# Sending (messaging): chunk size of claims and bulk writes, how many dispatcher tasks drain the
# outbox at once across all workers (CAMPAIGN_SEND_PARALLELISM is its former name), and how long a
# message may sit in `sending` without any status from Meta before staff are asked.
MESSAGING_SEND_CHUNK_SIZE = env.int("MESSAGING_SEND_CHUNK_SIZE", default=200)
MESSAGING_DISPATCHERS = env.int("MESSAGING_DISPATCHERS", default=env.int("CAMPAIGN_SEND_PARALLELISM", default=4))
MESSAGING_RECONCILE_AFTER_MINUTES = env.int("MESSAGING_RECONCILE_AFTER_MINUTES", default=30)
# The dispatcher's safety net: every commit wakes it, this catches a wake lost with the broker.
CELERY_BEAT_SCHEDULE["messaging-send-due"] = {
    "task": "messaging.tasks.send_due_messages",
    "schedule": timedelta(seconds=10),
    "options": {"expires": 9},
}
CELERY_BEAT_SCHEDULE["messaging-reconcile-stale"] = {
    "task": "messaging.tasks.reconcile_stale_sending",
    "schedule": timedelta(minutes=5),
    "options": {"expires": 4 * 60},
}

# Complaints: the two clocks (first response, resolution, and the statutory outer limit that
# never pauses), and the block/report signal threshold that puts a template under investigation.
COMPLAINT_FIRST_RESPONSE_HOURS = env.int("COMPLAINT_FIRST_RESPONSE_HOURS", default=24)
COMPLAINT_RESOLUTION_DAYS = env.int("COMPLAINT_RESOLUTION_DAYS", default=15)
COMPLAINT_OUTER_LIMIT_DAYS = env.int("COMPLAINT_OUTER_LIMIT_DAYS", default=90)  # DPDP Rules: <= 90 days
COMPLAINT_SIGNAL_THRESHOLD = env.float("COMPLAINT_SIGNAL_THRESHOLD", default=0.02)  # share of sends
COMPLAINT_SIGNAL_MIN_SENDS = env.int("COMPLAINT_SIGNAL_MIN_SENDS", default=50)
COMPLAINT_SIGNAL_WINDOW_DAYS = env.int("COMPLAINT_SIGNAL_WINDOW_DAYS", default=7)
CELERY_BEAT_SCHEDULE["complaints-check-clocks"] = {
    "task": "complaints.tasks.check_clocks_task",
    "schedule": timedelta(minutes=10),
    "options": {"expires": 9 * 60},
}
CELERY_BEAT_SCHEDULE["complaints-evaluate-signals"] = {
    "task": "complaints.tasks.evaluate_signals_task",
    "schedule": timedelta(hours=1),
    "options": {"expires": 55 * 60},
}

# --- WhatsApp (Meta Cloud API) ------------------------------------------------------------

_BACKENDS = {
    "cloud": "pandorakart_wa.whatsapp.backends.cloud.CloudBackend",
    "sandbox": "pandorakart_wa.whatsapp.backends.sandbox.SandboxBackend",
    "locmem": "pandorakart_wa.whatsapp.backends.locmem.LocmemBackend",
}
WHATSAPP_BACKEND_NAME = env.str("WHATSAPP_BACKEND", default="sandbox")
WHATSAPP_BACKEND = _BACKENDS.get(WHATSAPP_BACKEND_NAME, WHATSAPP_BACKEND_NAME)
WHATSAPP_GRAPH_URL = env.str("WHATSAPP_GRAPH_URL", default="https://graph.facebook.com").rstrip("/")
WHATSAPP_API_VERSION = env.str("WHATSAPP_API_VERSION", default="v23.0")
WHATSAPP_ACCESS_TOKEN = env.str("WHATSAPP_ACCESS_TOKEN", default="")
WHATSAPP_PHONE_NUMBER_ID = env.str("WHATSAPP_PHONE_NUMBER_ID", default="")
WHATSAPP_WABA_ID = env.str("WHATSAPP_WABA_ID", default="")
WHATSAPP_APP_SECRET = env.str("WHATSAPP_APP_SECRET", default="")
WHATSAPP_VERIFY_TOKEN = env.str("WHATSAPP_VERIFY_TOKEN", default="")
WHATSAPP_MAX_MPS = env.int("WHATSAPP_MAX_MPS", default=80)
WHATSAPP_CONNECT_TIMEOUT = env.float("WHATSAPP_CONNECT_TIMEOUT", default=3.05)
WHATSAPP_READ_TIMEOUT = env.float("WHATSAPP_READ_TIMEOUT", default=20.0)
WHATSAPP_POOL_SIZE = env.int("WHATSAPP_POOL_SIZE", default=128)
# How many sends `send_batch` runs at once over the pooled Session (threads, or greenlets under gevent).
WHATSAPP_SEND_CONCURRENCY = env.int("WHATSAPP_SEND_CONCURRENCY", default=64)
# Webhooks: every update is stored before the answer and its opt-outs applied; the rest is
# applied by the workers (on). Off: everything is applied before the answer (tests, debugging).
# WEBHOOK_DEFER_STATUSES is the variable's earlier name, still read.
WEBHOOK_DEFER = env.bool("WEBHOOK_DEFER", default=env.bool("WEBHOOK_DEFER_STATUSES", default=True))
# Opt-out keywords the webhook view applies together per transaction (each group is in force at
# its commit; pandorakart_wa/webhooks/optouts.py).
WEBHOOK_OPT_OUT_GROUP = env.int("WEBHOOK_OPT_OUT_GROUP", default=250)
CELERY_BEAT_SCHEDULE["core-apply-deferred-webhooks"] = {  # the safety net: each webhook asks a worker itself
    "task": "pandorakart_wa.tasks.apply_deferred_webhooks",
    "schedule": timedelta(seconds=10),
    "options": {"expires": 9},
}

# --- Retention (DESIGN.md "Audit"; pandorakart_wa/retention.py) ----------------------------

# Raw webhook bodies (they hold numbers) are redacted after this many days; the parsed items stay.
RETENTION_WEBHOOK_DAYS = env.int("RETENTION_WEBHOOK_DAYS", default=30)
# Profile sync runs, ledger verification runs and expired staff sessions are deleted after this.
RETENTION_OPERATIONAL_DAYS = env.int("RETENTION_OPERATIONAL_DAYS", default=90)
# Audit trail and staff sign-in logs: never fewer than 365 days (system check retention.E001).
RETENTION_AUDIT_DAYS = env.int("RETENTION_AUDIT_DAYS", default=365)
CELERY_BEAT_SCHEDULE["core-apply-retention"] = {
    "task": "pandorakart_wa.tasks.apply_retention_task",
    "schedule": crontab(hour=21, minute=15),  # 02:45 in India, after the nightly ledger verification
    "options": {"expires": 6 * 60 * 60},
}

# --- Monitoring ---------------------------------------------------------------------------

# GET /metrics (Prometheus) answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is off
# (404). Prometheus: `authorization: {credentials_file: ...}` in the scrape config (README).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Secrets, checked at start-up -------------------------------------------------------

# API.md, Configuration: with DEBUG off, a malformed secret stops every process (web, workers,
# beat, manage.py) here, naming the variable, instead of failing at the first write (a Fernet
# key that is not one) or never (a webhook secret Meta cannot have issued). `check --deploy`
# reports the same problems (pandorakart_wa/checks.py, ids secrets.E001-E005).
if not DEBUG:
    from pandorakart_wa.core.secret_checks import secret_problems

    _secret_problems = [p for p in secret_problems(globals()) if not p.warning]
    if _secret_problems:
        raise ImproperlyConfigured(
            "Malformed secrets in the environment: "
            + "; ".join(str(p) for p in _secret_problems)
            + " (see .env.example and the README's Configuration section)."
        )

# --- Logging ------------------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "correlation": {"()": "pandorakart_wa.core.logging.CorrelationIdFilter"},
        "mask_pii": {"()": "pandorakart_wa.core.logging.MaskPhoneNumbersFilter"},
    },
    "formatters": {
        "line": {
            "format": "%(asctime)s %(levelname)s %(name)s [cid=%(correlation_id)s] %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "line",
            "filters": ["correlation", "mask_pii"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # runserver's request lines (Django's own handler for them has no masking filter).
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
