"""Shared test helpers: ports, waits, processes, users. Import from here, never from a conftest.

No Django or pytest import at module level, so plain modules (tests/sshd.py) can use it too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

# The password of users that log in through the login form (browser tests); everyone else
# gets none (see make_user).
FORM_PASSWORD = "pw-browser-123"


def xdist_worker() -> str:
    """This pytest-xdist worker's id ("gw0", "gw1"...), "" outside xdist. Subprocesses a worker
    starts inherit it (PYTEST_XDIST_WORKER), so they land on the same per-worker resources."""
    return os.environ.get("PYTEST_XDIST_WORKER", "")


def worker_name(name: str) -> str:
    """`name` made this worker's own ("livchat-test" -> "livchat-test-gw0" under xdist): login
    users, key prefixes... that parallel workers must not share. Idempotent; `name` outside xdist."""
    worker = xdist_worker()
    if not worker or name.endswith(f"-{worker}"):
        return name
    return f"{name}-{worker}"


def free_port() -> int:
    """A loopback port nothing listens on right now (bound, read, released): for a server to
    listen on, or for a connection that must be refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", *, timeout: float = 0.5) -> bool:
    """True when something accepts a TCP connection on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    """Poll `predicate` until it returns something truthy, and return that; AssertionError
    naming `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


def wait_running_with_line(job, message: str, *, timeout: float = 60.0) -> None:
    """Wait until `job` runs and has stored a line `message` (refreshes `job`)."""
    from jobs.models import JobLogLine, JobStatus

    def ready() -> bool:
        job.refresh_from_db()
        return job.status == JobStatus.RUNNING and JobLogLine.objects.filter(job=job, message=message).exists()

    wait_for(ready, timeout=timeout, interval=0.05, message=f"{job.job_id} to run and print {message!r}")


def os_killpg(pid: int, sig) -> None:
    """Signal the process group `pid` leads (a child started with start_new_session=True);
    nothing if it is gone already."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


TEST_PLAYBOOKS = Path(__file__).parent / "playbooks"


def copy_test_playbook(folder: Path, name: str) -> None:
    """Put tests/playbooks/NAME into `folder` (an operator playbook folder)."""
    (folder / name).write_text((TEST_PLAYBOOKS / name).read_text())


def stop_process_group(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM the process group `proc` leads, SIGKILL if it has not ended within `timeout` s."""
    os_killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os_killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def make_user(username: str, *, role: str | None = "Admins", password: str | None = None, **fields):
    """A user with one role group (Viewers, Operators, Admins) or none (role=None); `fields`
    go to create_user (is_staff=True, is_superuser=True, is_active=False...).

    The one way tests make users. No password by default: hashing one costs ~0.3 s, and
    sessions are made with force_login (FORM_PASSWORD for the login form).
    """
    from django.contrib.auth import get_user_model

    from accounts.roles import grant_role

    user = get_user_model().objects.create_user(username, password=password, **fields)
    if role is not None:
        grant_role(user, role)
    return user


def admin_template_form(**fields) -> dict:
    """A POST body for the admin's job template form (no schedules unless `fields` add them)."""
    form = {
        "kind": "command",
        "tags": "[]",
        "extra_vars": "{}",
        "prompts": "[]",
        "notify_on": "never",
        "webhook_format": "json",
        "schedules-TOTAL_FORMS": "0",
        "schedules-INITIAL_FORMS": "0",
    }
    return {**form, **fields}


def stored_job(
    servers,
    lines: list[str] | list[tuple[str, str, str]],
    *,
    status: str = "succeeded",
    params: dict | None = None,
    user=None,
    stream: str = "stdout",
    level: str = "INFO",
    host_lines: dict[str, list[str]] | None = None,
):
    """A finished (or `status`) remote_exec job whose lines went through the real sink (rows and
    log file), without SSH. `lines`: messages, or (stream, level, message) tuples;
    `host_lines`: a many-server job's lines by host."""
    from jobs.log.sink import JobSink
    from jobs.models import Job
    from jobs.services import new_job_id

    servers = servers if isinstance(servers, list | tuple) else [servers]
    job = Job.objects.create(
        job_id=new_job_id("remote_exec"),
        job_type="remote_exec",
        status="running",
        server=servers[0],
        created_by=user,
        params=params if params is not None else {"command": "x"},
    )
    job.servers.set(servers)
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    for line in lines:
        if isinstance(line, tuple):
            sink.write_lines(line[0], [line[2]], level=line[1])
    plain = [line for line in lines if not isinstance(line, tuple)]
    if plain:
        sink.write_lines(stream, plain, level=level)
    for host, messages in (host_lines or {}).items():
        sink.write_lines("stdout", messages, host=host)
    sink.close()
    Job.objects.filter(pk=job.pk).update(status=status)
    return Job.objects.get(pk=job.pk)
