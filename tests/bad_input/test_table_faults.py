"""The table, SSH faults: each job ends in a final status with an error a person understands,
the same error is in the job's log as a system line, and every line that arrived is kept."""

from __future__ import annotations

import time

import pytest

from jobs.models import Job, JobLogLine
from jobs.services import create_remote_exec_job
from tests.bad_input.helpers import Row, assert_every_line_kept, messages, table
from tests.helpers import free_port, wait_for, worker_name
from tests.sshd import start_sshd

pytestmark = pytest.mark.django_db(transaction=True)

# its own user: tests/servers/test_ssh_failures.py sets another password on livchat-pw (per xdist worker: worker_name)
PW_USER = worker_name("livchat-pw-table")
UNREACHABLE = f"Cannot reach {worker_name('livchat-test')}@192.0.2.1:22"  # the sshd fixture's user
PW_RIGHT = "pw-right-1"
PW_WRONG = "pw-wrong-Secret-9"
MISSING_DIR = "/nonexistent-livchat-table-dir"
DROP_COMMAND = "for i in $(seq 1 400); do echo n$i; sleep 0.05; done"


class Faults:
    """Makes each fault happen for real and returns the finished job."""

    def __init__(self, make_server, run_job, run_job_in_thread, tmp_path_factory) -> None:
        self.make_server = make_server
        self.run_job = run_job
        self.run_job_in_thread = run_job_in_thread
        self.tmp = tmp_path_factory
        self.started: list = []

    def job(self, server, command: str = "echo should-not-run", **kw) -> Job:
        return self.run_job(create_remote_exec_job(server=server, command=command, enqueue=False, **kw))

    def sshd(self, **kw):
        ssh = start_sshd(self.tmp.mktemp("fault-sshd"), **kw)
        self.started.append(ssh)
        return ssh

    def refused_port(self) -> Job:
        return self.job(self.make_server(name="refused", port=free_port()))

    def unreachable_host(self) -> Job:
        # 192.0.2.0/24 (TEST-NET-1) is never routed: the connection cannot be made.
        return self.job(self.make_server(name="blackhole", host="192.0.2.1", port=22))

    def wrong_password(self) -> Job:
        ssh = self.sshd(username=PW_USER, password=PW_RIGHT)
        good = self.make_server(name="pw-good", ssh=ssh, private_key="", password=PW_RIGHT)
        assert self.job(good, "true").status == "succeeded", "the right password must work, or this proves nothing"
        return self.job(self.make_server(name="pw-bad", ssh=ssh, private_key="", password=PW_WRONG))

    def wrong_key(self) -> Job:
        import asyncssh

        other = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
        return self.job(self.make_server(name="wrong-key", private_key=other))

    def changed_host_key(self) -> Job:
        ssh = self.sshd()
        server = self.make_server(name="rekeyed", ssh=ssh)
        assert self.job(server, "true").status == "succeeded"  # pins the first key
        ssh.regenerate_host_keys()
        ssh.stop()
        ssh.start()
        server.refresh_from_db()
        return self.job(server)

    def sshd_killed_mid_stream(self) -> Job:
        ssh = self.sshd()
        server = self.make_server(name="dropped", ssh=ssh)
        job = create_remote_exec_job(server=server, command=DROP_COMMAND, enqueue=False)
        thread = self.run_job_in_thread(job)
        wait_for(
            lambda: JobLogLine.objects.filter(job=job, message="n10").exists(),
            timeout=30,
            interval=0.05,
            message="the job to print n10",
        )
        ssh.kill()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the job never noticed the dropped connection"
        job.refresh_from_db()
        return job

    def timeout(self) -> Job:
        return self.job(self.make_server(), f"echo started; sleep {600 + time.monotonic_ns() % 100}", timeout=1)

    def remote_exit_code(self) -> Job:
        return self.job(self.make_server(), "echo before; echo oops >&2; exit 7")

    def missing_working_dir(self) -> Job:
        return self.job(self.make_server(), "echo should-not-run", working_dir=MISSING_DIR)


def _lines_that_arrived(job: Job) -> None:
    stdout = messages(job, "stdout")
    assert len(stdout) >= 10, stdout
    assert stdout == [f"n{i}" for i in range(1, len(stdout) + 1)], "a line that arrived was lost"


def _started_only(job: Job) -> None:
    assert messages(job, "stdout") == ["started"]


def _both_streams(job: Job) -> None:
    assert (messages(job, "stdout"), messages(job, "stderr")) == (["before"], ["oops"])


def _says_which_dir(job: Job) -> None:
    [line] = messages(job, "stderr")
    assert MISSING_DIR in line, line


ROWS = table(
    Row("fault", "refused-port", "refused_port", "failed", "connection refused"),
    Row("fault", "unreachable-host", "unreachable_host", "failed", UNREACHABLE),
    Row("fault", "wrong-password", "wrong_password", "failed", "Authentication failed"),
    Row("fault", "wrong-key", "wrong_key", "failed", "Authentication failed"),
    Row("fault", "changed-host-key", "changed_host_key", "failed", "has changed"),
    Row("fault", "sshd-killed-mid-stream", "sshd_killed_mid_stream", "failed", "Connection lost", _lines_that_arrived),
    Row("fault", "timeout", "timeout", "timed_out", "Timed out after 1 s", _started_only),
    Row("fault", "remote-exit-code", "remote_exit_code", "failed", "Command exited with code 7", _both_streams),
    Row("fault", "missing-working-dir", "missing_working_dir", "failed", "Command exited with code 2", _says_which_dir),
)  # fmt: skip


@pytest.fixture
def faults(make_server, run_job, run_job_in_thread, tmp_path_factory):
    made = Faults(make_server, run_job, run_job_in_thread, tmp_path_factory)
    yield made
    for ssh in made.started:
        ssh.close()


@pytest.mark.parametrize("row", ROWS)
def test_fault_row(row: Row, faults, sshd):
    job = getattr(faults, row.input)()

    assert job.status == row.expect, (job.status, job.error)
    assert row.fragment in job.error, job.error
    assert job.finished_at is not None
    errors = messages(job, "system", "ERROR")
    assert any(row.fragment in line for line in errors), f"the error is not in the job's log: {errors}"
    assert "should-not-run" not in messages(job, "stdout")
    assert PW_WRONG not in job.error and not JobLogLine.objects.filter(message__contains=PW_WRONG).exists()
    assert_every_line_kept(job)
    if row.check is not None:
        row.check(job)
