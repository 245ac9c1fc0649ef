"""Settings for tillit. Every value can be set from the environment (TILLIT_*, DATABASE_URL).

The defaults run a local, single-machine system on the embedded SQLite database under
``var/``; production sets TILLIT_SECRET_KEY, TILLIT_DEBUG=false, TILLIT_ALLOWED_HOSTS and
DATABASE_URL (PostgreSQL).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"TILLIT_{name}", default)


def env_bool(name: str, default: bool) -> bool:
    raw = env(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"TILLIT_{name}: expected true or false, got {raw!r}")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
DATA_DIR = Path(env("DATA_DIR", str(BASE_DIR / "var")) or "var")

# Local development gets a fixed, clearly marked key; production must set its own.
_DEV_KEY = "insecure-development-key-do-not-use-in-production-0123456789abcdef"
SECRET_KEY = env("SECRET_KEY") or (_DEV_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("TILLIT_SECRET_KEY must be set when TILLIT_DEBUG is false")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

TILLIT_POLICY_PATH = Path(env("POLICY_PATH", str(BASE_DIR / "policy" / "avara.toml")) or "")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "ninja",  # the API docs from its bundled static files (the CSP allows no CDN, no inline script)
    "tillit.core",
    "tillit.policy",
    "tillit.accounts",
    "tillit.audit",
    "tillit.people",
    "tillit.consent",
    "tillit.retention",
    "tillit.sharing",
    "tillit.marketing",
    "tillit.rights",
    "tillit.capture",
    "tillit.incidents",
    "tillit.api",
    "tillit.web",
    "tillit.public",
    "tillit.cli",
]

MIDDLEWARE = [
    "tillit.web.middleware.ServerTimingMiddleware",
    "tillit.web.middleware.NoStoreMiddleware",
    "tillit.web.middleware.BodySizeLimitMiddleware",
    "tillit.web.middleware.GlobalPrivacyControlMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "tillit.web.middleware.SessionLifetimeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "tillit.web.middleware.PublicRateLimitMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tillit.web.context.staff",
            ],
        },
    },
]


def _database() -> dict[str, object]:
    url = os.environ.get("DATABASE_URL")
    if url:
        try:
            config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        except Exception as error:  # the library raises several kinds; all mean a bad URL
            raise ImproperlyConfigured(f"DATABASE_URL: cannot be parsed ({error})") from None
        if config["ENGINE"] == "django.db.backends.postgresql":
            # JIT compilation costs hundreds of milliseconds on the set-based queries (audience,
            # verifier) whose cost estimates trip its threshold, and never paid off here.
            config.setdefault("OPTIONS", {})["options"] = "-c jit=off"
        return dict(config)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATA_DIR / "tillit.sqlite3"),
        "OPTIONS": {
            # WAL lets readers and a writer work at once; IMMEDIATE avoids lock upgrades
            # that fail with "database is locked" under concurrent writes.
            # secure_delete overwrites deleted content with zeros, so an erased person's bytes do not
            # linger in free pages of the file (set explicitly: builds differ in their default).
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
        "TEST": {"NAME": str(DATA_DIR / "test-tillit.sqlite3")},
    }


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("sv", "Svenska"), ("nb", "Norsk bokmål")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Oslo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"

# A request body over 1 MiB is refused with 413 (tillit.web.middleware).
TILLIT_MAX_BODY_BYTES = int(env("MAX_BODY_BYTES", str(1024 * 1024)) or 0)
DATA_UPLOAD_MAX_MEMORY_SIZE = TILLIT_MAX_BODY_BYTES
# Forwarded emails may be larger (attachments): up to 10 MiB on the two upload paths.
# Signed PDFs attached to rights requests on the request desk, too.
TILLIT_LARGE_BODY_PATHS = {
    "/api/emails": 10 * 1024 * 1024,
    "/emails/upload/": 10 * 1024 * 1024,
    "/requests/": 10 * 1024 * 1024,
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Staff sessions end after 30 minutes without a request (sliding), and at browser close.
SESSION_COOKIE_AGE = int(env("SESSION_IDLE_SECONDS", "1800") or 1800)
SESSION_SAVE_EVERY_REQUEST = True
# However active, a staff session ends after this long (tillit.web.middleware.SessionLifetimeMiddleware).
TILLIT_SESSION_MAX_SECONDS = int(env("SESSION_MAX_SECONDS", "43200") or 43200)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_NAME = "tillit_session" if DEBUG else "__Host-tillit_session"
CSRF_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = 0 if DEBUG else 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# A content security policy: only our own scripts and styles, no inline script, no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# Lock-out after repeated failed sign-ins (a wrong password or a wrong code both count).
AXES_FAILURE_LIMIT = int(env("LOGIN_FAILURE_LIMIT", "5") or 5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "web/locked_out.html"
AXES_VERBOSE = False
OTP_TOTP_ISSUER = "tillit (Avara AS)"

# Every handler redacts email addresses and phone numbers (tillit.core.redaction): a log line
# outlives the erasure of the person it names. Django's own loggers (requests, the development
# server's request lines) are routed through the same filtered handlers; gunicorn's access and
# error logs get the filter from gunicorn.conf.py.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_identifiers": {"()": "tillit.core.redaction.RedactIdentifiers"}},
    "formatters": {
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"}
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_identifiers"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_identifiers"],
        },
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "WARNING")},
    "loggers": {
        "django": {"handlers": ["console"], "level": env("LOG_LEVEL", "WARNING"), "propagate": False},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}

# The key of the keyed hashes (HMAC-SHA256) on the suppression list and erasure receipts, and
# (derived from it) of the seals on the consent, cookie-choice and disclosure ledgers.
# It must survive backups and restores: changing it forgets every suppression and makes every
# ledger seal fail `tillit verify`.
TILLIT_IDENTIFIER_KEY = env("IDENTIFIER_KEY") or SECRET_KEY

# Background work: django-tasks with the database backend; run workers with `tillit db_worker`
# and the clock with `tillit scheduler` (several hosts may share one PostgreSQL).
TASKS = {"default": {"BACKEND": env("TASK_BACKEND", "django_tasks_db.DatabaseBackend")}}
# The hour (Europe/Oslo) at which the daily retention sweep is enqueued.
TILLIT_SWEEP_HOUR = int(env("SWEEP_HOUR", "2") or 2)

# Email: Django's email framework over SMTP. The sender is the controller named in the policy.
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = int(env("EMAIL_PORT", "1025") or 1025)
EMAIL_HOST_USER = env("EMAIL_USER", "") or ""
EMAIL_HOST_PASSWORD = env("EMAIL_PASSWORD", "") or ""
EMAIL_USE_TLS = env_bool("EMAIL_TLS", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env("EMAIL_FROM", "Avara AS <post@avara.no>")
# The public address of this system, for links in emails (https in production).
TILLIT_PUBLIC_URL = (env("PUBLIC_URL", "http://127.0.0.1:8000") or "").rstrip("/")
# Websites that may embed the cookie banner with one <script> tag (origins, comma-separated,
# e.g. https://www.avara.no); our own pages always may.
TILLIT_EMBED_ORIGINS = env_list("EMBED_ORIGINS", "")
# Capture: submissions per minute from one IP address to the public forms (0: no limit, as
# the load benchmark sets), and the shared secret the website's chat signs transcripts with.
TILLIT_FORM_RATE_PER_MINUTE = int(env("FORM_RATE_PER_MINUTE", "20") or 0)
TILLIT_CHAT_WEBHOOK_SECRET = env("CHAT_WEBHOOK_SECRET", "") or ""
# The Reservasjonsregisteret's lookup service (markedsføringsloven §12), for `tillit reservations lookup`.
TILLIT_RESERVATION_LOOKUP_URL = env("RESERVATION_LOOKUP_URL", "") or ""
# Every public endpoint, per client address and minute (0: off, as the load benchmarks do).
TILLIT_PUBLIC_RATE_PER_MINUTE = int(env("PUBLIC_RATE_PER_MINUTE", "300") or 0)
# Rights portal submissions per network (/24) and hour (0: off, for load tests only).
TILLIT_RIGHTS_RATE_PER_SOURCE = int(env("RIGHTS_RATE_PER_SOURCE", "20") or 0)
# How the public forms take a submission: "inline" stores it all in the request (DEBUG, tests,
# `make run`); "queued" validates, writes one intake row and answers; `tillit capture drain`
# (or the drain task) applies it (the production default). docs/capture.md.
TILLIT_FORM_INTAKE = env("FORM_INTAKE", "inline" if DEBUG else "queued") or "queued"
if TILLIT_FORM_INTAKE not in ("inline", "queued"):
    raise ImproperlyConfigured(f"TILLIT_FORM_INTAKE: expected inline or queued, got {TILLIT_FORM_INTAKE!r}")
