"""Hardened defaults (issue 10, section 6): private data files, TLS settings, the websocket
origin check, login throttling, the Content-Security-Policy, admin password rules and the
schedules that `migrate` creates."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import subprocess
import sys
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from livchat.middleware import websocket_origin_refusal
from tests.helpers import make_user

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


def _manage(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    """manage.py in a child that starts with the usual umask 022: the app must tighten it."""
    return subprocess.run(
        [sys.executable, MANAGE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=lambda: os.umask(0o022),
    )


def _fresh_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVCHAT_", "DJANGO_", "DATABASE_", "REDIS_"))}
    env.update(DJANGO_SETTINGS_MODULE="livchat.settings", LIVCHAT_DATA_DIR=str(data_dir), **extra)
    return env


# ---- a fresh install: private files, schedules -------------------------------------------
WRITE_A_JOB_LOG = """
from jobs.models import Job
from jobs.schedules import ensure_schedules
from jobs.log.sink import JobSink
ensure_schedules()  # what `serve` does on top of the migration: must not add a second copy
job = Job.objects.create(job_id="remote_exec-0000beef", job_type="remote_exec", status="running")
sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
sink.write_lines("stdout", ["a secret line"])
sink.close()
"""


@pytest.fixture(scope="module")
def fresh_install(tmp_path_factory) -> Path:
    """`manage.py migrate` into a data folder that does not exist yet, then one job's log."""
    data_dir = tmp_path_factory.mktemp("fresh") / "data"
    env = _fresh_env(data_dir)
    for args in (["migrate", "--noinput"], ["shell", "-c", WRITE_A_JOB_LOG]):
        done = _manage(args, env)
        assert done.returncode == 0, done.stderr[-3000:]
    return data_dir


def test_a_fresh_data_folder_and_its_files_are_private(fresh_install):
    data_dir = fresh_install
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    db = data_dir / "livchat.sqlite3"
    log = data_dir / "logs" / "jobs" / "remote_exec-0000beef.log"
    assert "a secret line" in log.read_text()
    for must in (db, log, data_dir / "secret_key"):
        assert must.exists(), must
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    dirs = [p for p in data_dir.rglob("*") if p.is_dir()]
    assert {db, log} <= set(files)
    leaky = {str(p.relative_to(data_dir)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files + dirs}
    leaky = {name: mode for name, mode in leaky.items() if int(mode, 8) & 0o077}
    assert leaky == {}, f"group/world bits on {leaky}"


def test_an_existing_open_data_folder_is_closed_at_start(tmp_path):
    data_dir = tmp_path / "old"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)  # what an older version (or a hand-made folder) left
    done = _manage(["check"], _fresh_env(data_dir))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def test_migrate_alone_creates_the_reaper_and_retention_schedules(fresh_install):
    from django_q.models import Schedule

    from jobs.schedules import MINUTES, SCHEDULES

    assert MINUTES == Schedule.MINUTES
    with sqlite3.connect(fresh_install / "livchat.sqlite3") as db:
        rows = db.execute("SELECT name, func, schedule_type, minutes, repeats FROM django_q_schedule").fetchall()
    # Exactly one of each, although `serve`'s ensure_schedules() ran after the migration.
    assert sorted(rows) == sorted((name, func, MINUTES, every, -1) for name, (func, every) in SCHEDULES.items())
    assert {name for name, *_ in rows} == {"livchat-reap-lost-jobs", "livchat-cleanup-logs"}


# ---- settings for running behind a TLS proxy ----------------------------------------------
SHOW_SETTINGS = """
import json
from django.conf import settings as s
print(json.dumps({k: getattr(s, k, None) for k in (
    "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "SECURE_PROXY_SSL_HEADER", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_AGE",
    "CSRF_TRUSTED_ORIGINS")}))
"""


def _settings_with(tmp_path: Path, **env: str) -> dict:
    done = _manage(["shell", "-c", SHOW_SETTINGS], _fresh_env(tmp_path / "data", **env))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tls_settings_come_from_the_environment(tmp_path):
    plain = _settings_with(tmp_path)
    assert plain["SESSION_COOKIE_SECURE"] is False and plain["CSRF_COOKIE_SECURE"] is False
    assert plain["SECURE_HSTS_SECONDS"] == 0 and plain["SECURE_PROXY_SSL_HEADER"] is None
    assert plain["SESSION_COOKIE_AGE"] == 12 * 3600

    tls = _settings_with(tmp_path, LIVCHAT_BEHIND_TLS="1", DJANGO_CSRF_TRUSTED_ORIGINS="https://ops.example.com")
    assert tls["SESSION_COOKIE_SECURE"] is True and tls["CSRF_COOKIE_SECURE"] is True
    assert tls["SECURE_HSTS_SECONDS"] == 31536000
    assert tls["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert tls["CSRF_TRUSTED_ORIGINS"] == ["https://ops.example.com"]
    assert tls["SECURE_SSL_REDIRECT"] is False  # the proxy redirects; a loop otherwise

    tuned = _settings_with(
        tmp_path,
        LIVCHAT_BEHIND_TLS="1",
        DJANGO_SECURE_HSTS_SECONDS="600",
        DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
        DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Scheme: https",
        DJANGO_SESSION_COOKIE_AGE="1800",
        DJANGO_CSRF_COOKIE_SECURE="0",
    )
    assert tuned["SECURE_HSTS_SECONDS"] == 600 and tuned["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert tuned["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_SCHEME", "https"]
    assert tuned["SESSION_COOKIE_AGE"] == 1800
    assert tuned["CSRF_COOKIE_SECURE"] is False and tuned["SESSION_COOKIE_SECURE"] is True


@pytest.mark.django_db
def test_behind_tls_the_login_sets_secure_cookies_and_hsts(settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    make_user("tls-user", password="pw-tls-user-123")
    client = Client(HTTP_X_FORWARDED_PROTO="https")
    page = client.get("/accounts/login/")
    assert page["Strict-Transport-Security"] == "max-age=31536000"
    assert page.cookies["csrftoken"]["secure"] is True
    answer = client.post("/accounts/login/", {"username": "tls-user", "password": "pw-tls-user-123"})
    assert answer.status_code == 302
    assert answer.cookies["sessionid"]["secure"] is True
    assert int(answer.cookies["sessionid"]["max-age"]) == settings.SESSION_COOKIE_AGE


# ---- websocket origin ---------------------------------------------------------------------
def _scope(origin: str | None, host: str | None, **extra_headers: str) -> dict:
    headers = [(b"origin", origin.encode())] if origin is not None else []
    if host is not None:
        headers.append((b"host", host.encode()))
    headers += [(k.replace("_", "-").encode(), v.encode()) for k, v in extra_headers.items()]
    return {"type": "websocket", "path": "/ws/jobs/", "headers": headers}


@pytest.mark.parametrize(
    "allowed_hosts, trusted, origin, host, extra, accepted",
    [
        (["*"], [], "http://evil.example", "livchat.example:8000", {}, False),
        (["*"], [], "http://evil.example", "evil.example", {}, True),  # the page's own host: same origin
        (["*"], [], "http://livchat.example:8000", "livchat.example:8000", {}, True),
        (["*"], [], "http://livchat.example", "livchat.example:8000", {}, False),  # another port
        (["*"], [], "http://livchat.example.evil.example", "livchat.example", {}, False),
        (["*"], [], None, "livchat.example", {}, False),
        (["*"], [], "null", "livchat.example", {}, False),
        (["*"], [], "http://livchat.example", None, {}, False),
        (["localhost"], [], "http://evil.example", "evil.example", {}, False),  # Host not allowed
        (["localhost"], [], "http://localhost:8000", "localhost:8000", {}, True),
        (["*"], ["https://ops.example.com"], "https://ops.example.com", "10.0.0.5:8000", {}, True),
        (["*"], ["https://ops.example.com"], "http://ops.example.com", "10.0.0.5:8000", {}, False),
        (["*"], ["https://*.example.org"], "https://a.example.org", "10.0.0.5:8000", {}, True),
        (["*"], ["https://*.example.org"], "https://a.example.org.evil.example", "x", {}, False),
        (["*"], [], "https://livchat.example", "livchat.example", {"x_forwarded_proto": "https"}, True),
        (["*"], [], "http://livchat.example", "livchat.example", {"x_forwarded_proto": "https"}, False),
    ],
)
def test_websocket_origin_rule(settings, allowed_hosts, trusted, origin, host, extra, accepted):
    settings.ALLOWED_HOSTS = allowed_hosts
    settings.CSRF_TRUSTED_ORIGINS = trusted
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    reason = websocket_origin_refusal(_scope(origin, host, **extra))
    assert (reason is None) is accepted, reason


def _finished_job():
    from jobs.log.sink import JobSink
    from jobs.models import Job

    job = Job.objects.create(job_id="remote_exec-0000cafe", job_type="remote_exec", status="running")
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    sink.write_lines("stdout", ["the job's secret output"])
    sink.close()
    Job.objects.filter(pk=job.pk).update(status="succeeded", exit_code=0)
    return job


def _session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def _talk(path: str, headers) -> tuple[bool, list[dict]]:
    from livchat.asgi import application

    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await comm.connect(timeout=10)
    messages = []
    while connected:
        msg = await comm.receive_json_from(timeout=20)
        messages.append(msg)
        if msg["type"] == "end":
            break
    await comm.disconnect()
    return connected, messages


@pytest.mark.django_db(transaction=True)
def test_with_allowed_hosts_star_a_foreign_origin_gets_no_socket_and_the_own_host_does(settings):
    settings.ALLOWED_HOSTS = ["*"]
    job = _finished_job()
    cookie = _session_cookie(make_user("ws-admin", is_superuser=True, is_staff=True))
    path = f"/ws/jobs/{job.job_id}/"

    foreign = [(b"host", b"livchat.example:8000"), (b"origin", b"http://evil.example"), cookie]
    connected, messages = asyncio.run(_talk(path, foreign))
    assert (connected, messages) == (False, [])

    own = [(b"host", b"livchat.example:8000"), (b"origin", b"http://livchat.example:8000"), cookie]
    connected, messages = asyncio.run(_talk(path, own))
    assert connected
    lines = [line["message"] for m in messages if m["type"] == "lines" for line in m["lines"]]
    assert lines == ["the job's secret output"]

    trusted = [(b"host", b"10.0.0.5:8000"), (b"origin", b"https://ops.example.com"), cookie]
    assert asyncio.run(_talk(path, trusted))[0] is False
    settings.CSRF_TRUSTED_ORIGINS = ["https://ops.example.com"]
    assert asyncio.run(_talk(path, trusted))[0] is True


# ---- login throttling ---------------------------------------------------------------------
def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.django_db
@pytest.mark.parametrize("login_url", ["/accounts/login/", "/admin/login/"])
def test_five_failed_logins_lock_the_account_on_both_login_pages(login_url):
    from axes.models import AccessAttempt

    make_user("victim", password="pw-victim-right-1", is_staff=True)
    other_url = {"/accounts/login/": "/admin/login/", "/admin/login/": "/accounts/login/"}[login_url]
    client = Client()
    for _ in range(4):
        answer = client.post(login_url, {"username": "victim", "password": "wrong"})
        assert answer.status_code == 200  # the form again, with its error
    answer = client.post(login_url, {"username": "victim", "password": "wrong"})
    assert answer.status_code == 429
    assert "locked" in answer.content.decode()

    # Locked: the right password does not get in from that address (any client there), on either page.
    for url in (login_url, other_url):
        answer = Client().post(url, {"username": "victim", "password": "pw-victim-right-1"})
        assert answer.status_code == 429
        assert "Too many failed logins" in answer.content.decode()
    # The lock is the account *from that address* (the default): from elsewhere the owner gets in,
    # and that does not unlock the address that failed.
    elsewhere = Client(REMOTE_ADDR="203.0.113.9")
    assert elsewhere.post(other_url, {"username": "victim", "password": "pw-victim-right-1"}).status_code == 302
    assert _logged_in(elsewhere)
    assert Client().post(login_url, {"username": "victim", "password": "pw-victim-right-1"}).status_code == 429

    # Another account is not affected.
    make_user("bystander", password="pw-bystander-1", is_staff=True)
    fine = Client()
    assert fine.post(login_url, {"username": "bystander", "password": "pw-bystander-1"}).status_code == 302
    assert _logged_in(fine)

    # After the cool-off (15 minutes by default), the right password works again.
    cool_off, limit = settings.AXES_COOLOFF_TIME, settings.AXES_FAILURE_LIMIT
    assert (cool_off, limit) == (timedelta(minutes=15), 5)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    later = Client()
    assert later.post(login_url, {"username": "victim", "password": "pw-victim-right-1"}).status_code == 302
    assert _logged_in(later)


@pytest.mark.django_db
def test_a_lockout_leaves_existing_sessions_and_the_api_alone():
    make_user("busy", password="pw-busy-right-12", is_superuser=True, is_staff=True)
    session = Client()
    assert session.post("/accounts/login/", {"username": "busy", "password": "pw-busy-right-12"}).status_code == 302
    for _ in range(5):
        Client().post("/accounts/login/", {"username": "busy", "password": "guess"})
    assert Client().post("/accounts/login/", {"username": "busy", "password": "pw-busy-right-12"}).status_code == 429
    assert session.get("/api/servers/").status_code == 200
    assert session.get("/").status_code == 200


# ---- Content-Security-Policy --------------------------------------------------------------
class _InlineFinder(HTMLParser):
    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "style" in a:
            self.problems.append(f"style attribute on <{tag}>")
        if any(name.startswith("on") for name in a):
            self.problems.append(f"event handler attribute on <{tag}>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script" and not a.get("src") and a.get("type") != "application/json":
            self._in_inline_script = True

    def handle_data(self, data):
        if self._in_inline_script and data.strip():
            self.problems.append(f"inline script: {data.strip()[:60]}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_inline_script = False


@pytest.mark.django_db
def test_every_page_has_a_strict_csp_and_no_inline_script_or_style(make_server):
    from jobs.models import Job

    admin = make_user("csp-admin", is_superuser=True, is_staff=True)
    server = make_server("csp-host")
    job = Job.objects.create(job_id="remote_exec-0000c5c5", job_type="remote_exec", status="succeeded")
    client = Client()
    answers = {"/accounts/login/": client.get("/accounts/login/")}
    client.force_login(admin)
    pages = [
        "/",
        "/servers/",
        f"/servers/{server.name}/",
        "/jobs/",
        f"/jobs/{job.job_id}/",
        "/playbooks/",
        "/admin/",
        f"/admin/jobs/job/{job.pk}/change/",
        f"/admin/servers/server/{server.pk}/change/",
        "/api/docs",
        reverse("accounts:tokens"),
    ]
    answers.update({url: client.get(url) for url in pages})
    for url, answer in answers.items():
        assert answer.status_code == 200, url
        policy = dict(part.strip().split(" ", 1) for part in answer["Content-Security-Policy"].split(";"))
        assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'", url
        assert policy["default-src"] == "'self'" and policy["object-src"] == "'none'", url
        finder = _InlineFinder()
        finder.feed(answer.content.decode())
        assert finder.problems == [], (url, finder.problems)


# ---- the first admin's password -----------------------------------------------------------
@pytest.mark.parametrize(
    "password, says",
    [
        ("password123", "too common"),
        ("84736251", "entirely numeric"),
        ("Xy1!", "too short"),
        ("adminXyz9", "too similar to the username"),
    ],
)
def test_ensure_admin_refuses_a_weak_password(subprocess_env, password, says):
    from django.contrib.auth import get_user_model

    done = _manage(["ensure_admin"], dict(subprocess_env, LIVCHAT_ADMIN_PASSWORD=password), timeout=120)
    assert done.returncode != 0
    assert "LIVCHAT_ADMIN_PASSWORD is refused" in done.stderr and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not get_user_model().objects.filter(is_superuser=True).exists()


def test_ensure_admin_accepts_a_strong_password(subprocess_env):
    from django.contrib.auth import get_user_model

    done = _manage(["ensure_admin"], dict(subprocess_env, LIVCHAT_ADMIN_PASSWORD="tidy-Kettle-94-harbor"), timeout=120)
    assert done.returncode == 0, done.stderr
    admin = get_user_model().objects.get(is_superuser=True)
    assert admin.check_password("tidy-Kettle-94-harbor")
