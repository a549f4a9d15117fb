"""LivChat settings. Everything that differs between machines comes from the environment."""

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


DATA_DIR = Path(os.environ.get("LIVCHAT_DATA_DIR", BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
JOB_LOG_DIR = DATA_DIR / "logs" / "jobs"
LOG_RETENTION_HOURS = float(os.environ.get("LIVCHAT_LOG_RETENTION_HOURS", "72"))
PLAYBOOK_DIRS = [BASE_DIR / "playbooks"] + (
    [Path(os.environ["LIVCHAT_PLAYBOOK_DIR"]).resolve()] if os.environ.get("LIVCHAT_PLAYBOOK_DIR") else []
)


def _secret_key() -> str:
    # A generated key is kept on disk: credentials are encrypted with a key derived from
    # it, so it must survive restarts of `make run`.
    if os.environ.get("DJANGO_SECRET_KEY"):
        return os.environ["DJANGO_SECRET_KEY"]
    path = DATA_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
CREDENTIAL_KEY = os.environ.get("LIVCHAT_CREDENTIAL_KEY", "")
DEBUG = env_bool("DJANGO_DEBUG")
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_q",
    "accounts",
    "servers",
    "jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "livchat.middleware.JsonErrorMiddleware",
]

ROOT_URLCONF = "livchat.urls"
ASGI_APPLICATION = "livchat.asgi.application"
WSGI_APPLICATION = None

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

# Databases: SQLite (embedded default) or anything DATABASE_URL names.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{DATA_DIR / 'livchat.sqlite3'}",
        conn_max_age=int(os.environ.get("LIVCHAT_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE transactions plus a long busy
    # timeout mean concurrent writers queue instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
    }
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(DATA_DIR / "test.sqlite3")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

REDIS_URL = os.environ.get("REDIS_URL", "")

# Jobs: the longest timeout a job may ask for. q2's own timeout/retry sit above it so a
# job is never killed by q2 nor handed to a second worker while it still runs.
JOB_MAX_TIMEOUT = int(os.environ.get("LIVCHAT_JOB_MAX_TIMEOUT", str(24 * 3600)))
JOB_DEFAULT_TIMEOUT = 300
INLINE_EXEC_MAX_TIMEOUT = 120
INLINE_EXEC_MAX_BYTES = 1024 * 1024
HEARTBEAT_STALE_SECONDS = int(os.environ.get("LIVCHAT_HEARTBEAT_STALE_SECONDS", "60"))

Q_CLUSTER = {
    "name": "livchat",
    "workers": int(os.environ.get("LIVCHAT_WORKERS", "4")),
    "recycle": 200,
    "timeout": JOB_MAX_TIMEOUT + 600,
    "retry": JOB_MAX_TIMEOUT + 1200,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "poll": 0.1,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    Q_CLUSTER["orm"] = "default"
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# App log records raised while a job runs (connecting, pinning host keys, retries,
# errors) are copied into that job's log by one handler; raw output lines never pass here.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "job": {"class": "jobs.capture.JobLogHandler", "level": "DEBUG"},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        name: {"handlers": ["console", "job"], "level": "INFO", "propagate": False}
        for name in ("livchat", "servers", "jobs", "accounts")
    },
}
