"""LivChat settings. Everything that differs between machines comes from the environment."""

import ipaddress
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


# Everything this process creates (the SQLite DB and its WAL, job logs, key files, playbook
# run folders) is private to the service user: settings are imported first by every entry
# point (manage.py, daphne through livchat.asgi, q2 workers forked from qcluster).
os.umask(0o077)
DATA_DIR = Path(os.environ.get("LIVCHAT_DATA_DIR", BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
try:
    DATA_DIR.chmod(0o700)  # also closes a data folder made by an older version (0755)
except PermissionError:  # not ours (a mount point): its owner decides
    pass
JOB_LOG_DIR = DATA_DIR / "logs" / "jobs"
LOG_RETENTION_HOURS = float(os.environ.get("LIVCHAT_LOG_RETENTION_HOURS", "72"))
PLAYBOOK_DIRS = [BASE_DIR / "playbooks"] + (
    [Path(os.environ["LIVCHAT_PLAYBOOK_DIR"]).resolve()] if os.environ.get("LIVCHAT_PLAYBOOK_DIR") else []
)
# DANGEROUS, off by default (AWX's ALLOW_JINJA_IN_EXTRA_VARS): when on, Ansible templates the
# extra vars a request sends, so `{{ lookup('pipe', 'any command') }}` in a value runs that
# command on this host as the worker user (which can read the DB and every credential).
ALLOW_JINJA_IN_EXTRA_VARS = env_bool("LIVCHAT_ALLOW_JINJA_IN_EXTRA_VARS")


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
# Credential encryption at rest (servers/crypto.py): key material from LIVCHAT_CREDENTIAL_KEY
# (set the same value on every machine of a multi-machine deployment), else a key generated
# into CREDENTIAL_KEY_FILE (mode 0600) on first use. Keys that still decrypt, never encrypt:
# LIVCHAT_CREDENTIAL_OLD_KEYS (comma-separated), the credential_key.old-* files that
# `rotate_credential_key` keeps, and the key derived from DJANGO_SECRET_KEY (older installs).
CREDENTIAL_KEY = os.environ.get("LIVCHAT_CREDENTIAL_KEY", "")
CREDENTIAL_KEY_FILE = DATA_DIR / "credential_key"
CREDENTIAL_OLD_KEYS = [k.strip() for k in os.environ.get("LIVCHAT_CREDENTIAL_OLD_KEYS", "").split(",") if k.strip()]
DEBUG = env_bool("DJANGO_DEBUG")
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

# Behind a TLS-terminating proxy: LIVCHAT_BEHIND_TLS=1 turns on all of the below; each one
# can also be set on its own (README, "Running behind TLS").
BEHIND_TLS = env_bool("LIVCHAT_BEHIND_TLS")
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", BEHIND_TLS)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", BEHIND_TLS)
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", str(31536000 if BEHIND_TLS else 0)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT")
_proxy_header = os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https" if BEHIND_TLS else "")
if _proxy_header.strip():
    _name, _, _value = _proxy_header.partition(":")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _name.strip().upper().replace("-", "_"), _value.strip())
SESSION_COOKIE_AGE = int(os.environ.get("DJANGO_SESSION_COOKIE_AGE", str(12 * 3600)))

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
    "ninja",  # the API docs page from local static files (no CDN, no inline script)
    "axes",
    "accounts",
    "servers",
    "jobs",
    "automation",
    "web",  # every HTML page (views, forms, urls): on top, nothing imports it
    "livchat",  # project-wide commands (serve, mcp) and the wiring
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "livchat.middleware.ViewerTimezone",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "livchat.middleware.JsonErrorMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
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
                "web.context_processors.approvals",
            ],
            # `{% clock value %}` on every page without a `{% load %}`: one clock everywhere.
            "builtins": ["livchat.templatetags.clock"],
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
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]
# Login throttling (django-axes) on every login form (/accounts/login/, /admin/login/):
# after LIVCHAT_LOGIN_FAILURE_LIMIT failures the account is locked for
# LIVCHAT_LOGIN_LOCKOUT_MINUTES. Sessions and API tokens already issued keep working.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LIVCHAT_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LIVCHAT_LOGIN_LOCKOUT_MINUTES", "15")))
# What a lock holds, comma-separated rules, "+" joining the parts of one rule. The default
# "username+ip_address" locks that account from that client address only: counting by
# username alone would let anyone keep `admin` locked out by typing wrong passwords.
# "username" (the account from everywhere) and "ip_address" (the address, every account) remain.
AXES_LOCKOUT_PARAMETERS = [
    p.split("+") if "+" in p else p
    for p in os.environ.get("LIVCHAT_LOGIN_LOCKOUT_BY", "username+ip_address").replace(" ", "").split(",")
    if p
]
# The client address: the connection's peer, or behind a reverse proxy listed here the address
# that proxy wrote into X-Forwarded-For (livchat/client_address.py). Never the header of an
# unlisted peer: a client could otherwise send a new address with every guess and never be
# locked. LIVCHAT_BEHIND_TLS trusts a proxy on this host (loopback); one elsewhere is named by
# address or network. A bad value fails at startup.
TRUSTED_PROXIES = [
    str(ipaddress.ip_network(net.strip(), strict=False))
    for net in os.environ.get("LIVCHAT_TRUSTED_PROXIES", "127.0.0.1,::1" if BEHIND_TLS else "").split(",")
    if net.strip()
]
AXES_CLIENT_IP_CALLABLE = "livchat.client_address.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
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

# Content-Security-Policy: LivChat's own static files only. No inline script or style (the
# job page's data travels in <script type="application/json">, which is never executed);
# the websocket and API calls go to this same origin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

REDIS_URL = os.environ.get("REDIS_URL", "")

# Jobs: the longest timeout a job may ask for. q2's own timeout/retry sit above it so a
# job is never killed by q2 nor handed to a second worker while it still runs.
JOB_MAX_TIMEOUT = int(os.environ.get("LIVCHAT_JOB_MAX_TIMEOUT", str(24 * 3600)))
JOB_DEFAULT_TIMEOUT = 300
INLINE_EXEC_MAX_TIMEOUT = 120
INLINE_EXEC_MAX_BYTES = 1024 * 1024
# Guardrails (jobs/policy/): the decision when no policy matches; `allow` keeps an installation
# without rules as it was. Approval requests are announced to this webhook too (if set).
POLICY_DEFAULT_DECISION = os.environ.get("LIVCHAT_POLICY_DEFAULT", "allow").strip().lower()
if POLICY_DEFAULT_DECISION not in ("allow", "deny", "approve"):  # a typo must not quietly allow
    raise ImproperlyConfigured(
        f"LIVCHAT_POLICY_DEFAULT must be allow, deny or approve (it is {POLICY_DEFAULT_DECISION!r})."
    )
APPROVAL_WEBHOOK_URL = os.environ.get("LIVCHAT_APPROVAL_WEBHOOK_URL", "")
# Searching every job's log (jobs/log/search_jobs.py): past this, a page answers what it found
# with `partial` and a cursor to go on from.
LOG_SEARCH_BUDGET_SECONDS = float(os.environ.get("LIVCHAT_LOG_SEARCH_BUDGET_SECONDS", "5"))
HEARTBEAT_STALE_SECONDS = int(os.environ.get("LIVCHAT_HEARTBEAT_STALE_SECONDS", "60"))

# Notifications (automation/notify.py): mail from the environment, the console by default.
EMAIL_BACKEND = os.environ.get("LIVCHAT_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("LIVCHAT_EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("LIVCHAT_EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("LIVCHAT_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("LIVCHAT_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("LIVCHAT_EMAIL_TLS", "") == "1"
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = os.environ.get("LIVCHAT_EMAIL_FROM", "livchat@localhost")
# The address people open LivChat at: links in notifications.
LIVCHAT_BASE_URL = os.environ.get("LIVCHAT_BASE_URL", "http://localhost:8000")
# Webhook retries: seconds before attempt 2, 3, ... (each waits on the q2 scheduler's tick).
NOTIFY_WEBHOOK_BACKOFF = [30, 120, 600]
NOTIFY_WEBHOOK_TIMEOUT = 10
# Webhooks only go to public addresses (automation/webhook_guard.py): loopback, private, link-local
# (cloud metadata), CGNAT... are refused. A receiver on your own LAN or loopback: allow its
# network, e.g. LIVCHAT_WEBHOOK_ALLOWED_NETWORKS="192.168.1.0/24,10.0.0.0/8" (a bad value fails
# at startup rather than refusing every webhook later).
NOTIFY_WEBHOOK_ALLOWED_NETWORKS = [
    str(ipaddress.ip_network(net.strip(), strict=False))
    for net in os.environ.get("LIVCHAT_WEBHOOK_ALLOWED_NETWORKS", "").split(",")
    if net.strip()
]
# The q2 scheduler looks at schedules about every 30 s; a template's schedule is woken this
# many seconds early and its run starts at the cron time itself (automation/schedules.py).
SCHEDULE_LEAD_SECONDS = int(os.environ.get("LIVCHAT_SCHEDULE_LEAD_SECONDS", "35"))

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
        "job": {"class": "jobs.log.capture.JobLogHandler", "level": "DEBUG"},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        name: {"handlers": ["console", "job"], "level": "INFO", "propagate": False}
        for name in ("livchat", "servers", "jobs", "accounts")
    },
}
