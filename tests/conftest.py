from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.helpers import make_user, stop_process_group
from tests.sshd import SshServer, start_sshd


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
