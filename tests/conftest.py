from __future__ import annotations

import threading

import pytest

from tests.sshd import SshServer, start_sshd


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> SshServer:
    """A real OpenSSH server on 127.0.0.1, shared by the session. Failing to start fails."""
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.close()


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
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("staff", password="pw-staff-123", is_staff=True)


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
