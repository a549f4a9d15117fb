"""Real Chromium (Playwright, Debian's /usr/bin/chromium) against a real `manage.py serve`.

The app runs as a subprocess (daphne + a django-q2 worker) on the pytest-django test
database, so tests create rows with the ORM (transactional_db: committed, visible to the
subprocess) and the browser sees them through HTTP and websockets.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.helpers import FORM_PASSWORD, free_port, port_open, wait_for, xdist_worker

ARTIFACTS = Path(settings.BASE_DIR) / "var" / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # serve stops daphne and the worker itself
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    # serve ran in a session of its own: whatever of it is left (a slow q2 worker) goes too.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=5)


# Package scope: one app server and one Chromium for a run of browser tests (each costs
# ~10 s to start and ~11 s to stop: serve's grace period for q2), torn down when the next test
# is outside tests/browser, so no other test runs beside Playwright's event loop or with
# DJANGO_ALLOW_ASYNC_UNSAFE set. With xdist --dist loadfile a worker gets the browser files
# in a row (collection order), so it pays this once.
@pytest.fixture(scope="package")
def app_server(django_db_setup):
    """`manage.py serve` on a free port, for the browser tests in a row. Yields its base URL."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "LIVCHAT_DATA_DIR": os.environ["LIVCHAT_DATA_DIR"],
        "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['TEST']['NAME']}",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LIVCHAT_WORKERS": "2",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log_path = ARTIFACTS / f"serve{'-' + xdist_worker() if xdist_worker() else ''}.log"  # one per xdist worker
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(settings.BASE_DIR) / "manage.py"),
                "serve",
                "--port",
                str(port),
                "--skip-migrate",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def listening() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"manage.py serve exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
        return port_open(port)

    try:
        wait_for(listening, timeout=START_TIMEOUT, message=f"manage.py serve to listen (log: {log_path})")
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop in this thread, which Django's
    # async-safety check mistakes for async code; the ORM calls here are plain sync ones.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield browser
    finally:
        browser.close()
        pw.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, app_server, request):
    context = browser.new_context(base_url=app_server, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(60_000)  # generous: the suite shares 2 cores with others
    page.console_errors = []
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    yield page
    try:
        # The viewport only: a full-page capture resizes the window, which resets the
        # scroll position of the log pane in Chromium.
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    finally:
        context.close()


@pytest.fixture
def operator(transactional_db):
    from tests.helpers import make_user

    return make_user("operator", password=FORM_PASSWORD, is_staff=True)


@pytest.fixture
def logged_in(page, operator):
    page.goto("/accounts/login/?next=/")
    page.fill("input[name=username]", operator.username)
    page.fill("input[name=password]", FORM_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    return page
