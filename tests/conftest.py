from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.helpers import make_user, stop_process_group, xdist_worker
from tests.sshd import SshServer, start_sshd

# The `heavy` tier: tests that start or need real processes (sshd, browser, app server,
# daphne, qcluster, manage.py subprocesses). `make test-fast` runs the rest (-m "not heavy").
# A test is heavy when its fixture closure holds one of HEAVY_FIXTURES or a fixture whose name
# holds "sshd", when it is a browser test, or when its file is in HEAVY_MODULES (files that
# start processes or servers in their test bodies).
HEAVY_FIXTURES = frozenset(
    {"make_server", "server", "qcluster", "subprocess_env", "app_server", "browser", "page", "live_server"}
)
HEAVY_MODULES = frozenset(
    {
        "tests/bad_input/test_table_cli.py",
        "tests/livchat/test_api_schema.py",
        "tests/accounts/test_cli_audit.py",
        "tests/jobs/management/test_commands.py",
        "tests/livchat/test_hardening.py",
        "tests/servers/test_key_rotation.py",
        "tests/livchat/test_login_lockout.py",  # reloads settings in subprocesses
        "tests/livchat/mcp/test_mcp_http.py",
        "tests/livchat/mcp/test_mcp_stdio.py",
        "tests/automation/test_notifications.py",
        "tests/jobs/management/test_playbook_command.py",
        "tests/jobs/runners/test_run_folder_sweep.py",
        "tests/automation/test_template_quoting.py",
        "tests/automation/test_webhook_guard.py",
        "tests/jobs/log/test_regex_file_scan.py",  # no process, but multi-MB logs: seconds per test
    }
)

# pytest-xdist (`make test` runs `-n N --dist loadfile --no-loadscope-reorder`): each file is
# one unit of work, so its module fixtures (module sshds, fresh installs) start once, and all
# of tests/web/browser is one unit, so one worker starts one app server and one Chromium for all of
# it (package-scoped fixtures) and no two Chromiums compete for the 2 cores (the scheduler
# below; xdist's own `loadgroup` does not group on pytest 9.2: pytest-xdist issue #1386).
# Units are handed out in collection order, so the longest ones (measured, serial) are put
# first: a 100 s test started last would be the run's tail.
LONGEST_FIRST = (
    "tests/livchat/test_api_schema.py",  # one ~100 s schemathesis test
    "tests/livchat/test_scaleout.py",  # ~80 s (the Postgres + Redis pass)
    "tests/web/browser/",
    "tests/automation/test_schedules.py",
    "tests/jobs/live/test_flow_control.py",
    "tests/servers/test_permissions.py",
    "tests/jobs/runners/test_playbooks.py",
    "tests/bad_input/test_table_cli.py",
    "tests/jobs/log/test_selectors.py",
    "tests/livchat/mcp/test_mcp.py",
    "tests/livchat/test_hardening.py",
    "tests/jobs/test_job_control.py",
    "tests/livchat/mcp/test_mcp_http.py",
    "tests/bad_input/test_table_mcp.py",
)


def _work_unit(path: str) -> str:
    return "tests/web/browser" if path.startswith("tests/web/browser/") else path


def _rank(path: str) -> int:
    return next((i for i, prefix in enumerate(LONGEST_FIRST) if path.startswith(prefix)), len(LONGEST_FIRST))


def pytest_collection_modifyitems(config, items):
    heavy = pytest.mark.heavy
    for item in items:
        path = item.nodeid.split("::")[0]
        names = set(item.fixturenames)
        if (
            names & HEAVY_FIXTURES
            or any("sshd" in name for name in names)
            or item.get_closest_marker("browser")
            or path in HEAVY_MODULES
        ):
            item.add_marker(heavy)
    if xdist_worker():
        # Stable sort: the order inside a file (and of the other files) is kept.
        items.sort(key=lambda item: _rank(item.nodeid.split("::")[0]))


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile`, with tests/web/browser as one unit (see LONGEST_FIRST)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FilesAndBrowser(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid.split("::")[0])

    return FilesAndBrowser(config, log)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> SshServer:
    """A real OpenSSH server on 127.0.0.1, shared by the session. Failing to start fails."""
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.close()


@pytest.fixture
def operator_dir(tmp_path, settings) -> Path:
    """An empty operator playbook folder, searched after the built-in playbooks."""
    folder = tmp_path / "operator-playbooks"
    folder.mkdir()
    settings.PLAYBOOK_DIRS = [Path(settings.BASE_DIR) / "playbooks", folder]
    return folder


@pytest.fixture
def make_server(sshd):
    from servers.services import create_or_update_server

    def make(name: str = "test", ssh: SshServer | None = None, **overrides):
        ssh = ssh or sshd
        fields = dict(name=name, host=ssh.host, port=ssh.port, username=ssh.username, private_key=ssh.private_key_text)
        fields.update(overrides)
        server, _ = create_or_update_server(**fields)
        return server

    return make


@pytest.fixture
def server(make_server, transactional_db):
    return make_server()


@pytest.fixture
def staff_user(transactional_db):
    """An Admins-role user, committed (visible to other threads and processes)."""
    return make_user("staff", is_staff=True)


@pytest.fixture
def staff(db):
    """An Admins-role user, in the test's transaction (test_pages logs in with the password)."""
    return make_user("op", password="pw-op-12345", is_staff=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def run_job():
    """Run a job's task body in this process (the worker's code path, without the queue)."""
    from jobs.models import Job
    from jobs.tasks import run_job as task

    def run(job: Job) -> Job:
        task(job.job_id)
        job.refresh_from_db()
        return job

    return run


@pytest.fixture
def run_job_in_thread():
    from jobs.tasks import run_job as task

    threads: list[threading.Thread] = []

    def start(job) -> threading.Thread:
        t = threading.Thread(target=task, args=(job.job_id,), daemon=True)
        t.start()
        threads.append(t)
        return t

    yield start
    for t in threads:
        t.join(timeout=60)


@pytest.fixture
def subprocess_env(transactional_db):
    """Environment for a manage.py subprocess that shares this test's database and data dir."""
    import os

    from django.conf import settings
    from django.db import connection

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["LIVCHAT_DATA_DIR"] = str(settings.DATA_DIR)
    if connection.vendor == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{connection.settings_dict['NAME']}"
    else:
        sd = connection.settings_dict
        env["DATABASE_URL"] = f"postgres://{sd['USER']}@{sd['HOST']}:{sd['PORT']}/{sd['NAME']}"
    return env


@pytest.fixture
def qcluster(subprocess_env):
    """A real django-q2 cluster process working on this test's database."""
    import subprocess
    import sys

    from django.conf import settings

    env = dict(subprocess_env, LIVCHAT_WORKERS="2")
    proc = subprocess.Popen(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    yield proc
    if proc.poll() is None:
        stop_process_group(proc, timeout=3)
