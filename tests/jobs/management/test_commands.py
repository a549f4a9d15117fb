"""The management commands, against a real sshd; a few run as real processes for exit codes."""

from __future__ import annotations

import getpass
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from jobs.management.helpers import CommandExit
from jobs.models import Job, JobLogLine
from jobs.services import create_remote_exec_job
from servers.models import Server
from servers.services import target_for
from tests.helpers import free_port, make_user, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

JOB_ID_RE = re.compile(r"^remote_exec-[0-9a-f]{8}$")
LOG_LINE_RE = re.compile(
    r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] (DEBUG|INFO|WARNING|ERROR|CRITICAL) (stdout|stderr|system): "
)


def run(*args: str, stdout=None) -> tuple[int, str, str, str]:
    """call_command with captured output: (exit code, stdout, stderr, exit message)."""
    out, err = stdout or io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code, message = 0, ""
    except CommandExit as exc:
        code, message = exc.returncode, exc.message
    return code, out.getvalue(), err.getvalue(), message


def manage_env() -> dict:
    # The same data directory (secret key, log files) and the test database of this process.
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "LIVCHAT_DATA_DIR": os.environ["LIVCHAT_DATA_DIR"],
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
    }


def manage(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=manage_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def manage_popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=manage_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def unique_sleep() -> str:
    return f"{600 + time.monotonic_ns() % 1000}.{os.getpid() % 10}7"


def ctrl_c_remote_exec(server_name: str, duration: str) -> tuple[int, str]:
    """`manage.py remote_exec SERVER 'echo started; sleep DURATION'` given one Ctrl-C once the
    command has started: (exit code, stderr)."""
    proc = manage_popen("remote_exec", server_name, f"echo started; sleep {duration}")
    try:
        assert proc.stdout.readline() == "started\n"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, err


def finished_job(server, run_job, command: str) -> Job:
    return run_job(create_remote_exec_job(server=server, command=command, enqueue=False))


# ---- add_server -----------------------------------------------------------------------------
def test_add_server_creates_then_updates_only_the_given_fields(sshd, transactional_db):
    code, out, err, _ = run(
        "add_server", "web1", "--host", sshd.host, "--port", str(sshd.port), "--user", sshd.username,
        "--key-file", str(sshd.private_key_path), "--tag", "db", "--tag", "eu", "--max-concurrent-jobs", "2",
    )  # fmt: skip
    assert code == 0
    assert "Added server web1" in out and "not pinned yet" in out and "private key" in out
    key_body = sshd.private_key_text.strip().splitlines()[1]
    assert key_body not in out + err
    server = Server.objects.get(name="web1")
    assert (server.host, server.port, server.username) == (sshd.host, sshd.port, sshd.username)
    assert server.tags == ["db", "eu"] and server.max_concurrent_jobs == 2
    assert target_for(server).private_key == sshd.private_key_text

    with pytest.raises(CommandError, match="exists already: add --update"):  # never changed by accident
        run("add_server", "web1", "--tag", "prod")
    assert Server.objects.get(name="web1").tags == ["db", "eu"]
    code, out, _, _ = run("add_server", "web1", "--update", "--tag", "prod")
    assert code == 0 and "Updated server web1" in out
    server.refresh_from_db()
    assert (server.host, server.port, server.username) == (sshd.host, sshd.port, sshd.username)
    assert server.tags == ["prod"] and server.max_concurrent_jobs == 2
    assert target_for(server).private_key == sshd.private_key_text


def test_add_server_password_from_environment_is_never_printed(transactional_db, monkeypatch):
    monkeypatch.setenv("LC_TEST_PASSWORD", "pw-never-shown-42")
    code, out, err, _ = run("add_server", "pw1", "--host", "192.0.2.10", "--password-env", "LC_TEST_PASSWORD")
    assert code == 0
    assert "pw-never-shown-42" not in out + err
    assert "password" in out
    server = Server.objects.get(name="pw1")
    assert (server.port, server.username) == (22, "root")
    assert target_for(server).password == "pw-never-shown-42"


def test_add_server_rejects_bad_input_with_readable_errors(sshd, tmp_path, transactional_db, monkeypatch):
    public = tmp_path / "id.pub"
    public.write_text(sshd.public_key_text)
    garbage = tmp_path / "garbage"
    garbage.write_text("this is not a key\n")
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00\x01" * 10)
    monkeypatch.delenv("LC_UNSET_VAR", raising=False)
    base = ["add_server", "bad", "--host", "192.0.2.1"]
    cases = [
        ([*base, "--key-file", str(tmp_path / "missing")], "does not exist"),
        ([*base, "--key-file", str(tmp_path)], "is a directory"),
        ([*base, "--key-file", str(public)], "holds a public key"),
        ([*base, "--key-file", str(garbage)], "private key cannot be read"),
        ([*base, "--key-file", str(binary)], "not a text private key"),
        ([*base, "--password-env", "LC_UNSET_VAR"], "LC_UNSET_VAR is not set"),
        ([*base, "--port", "70000"], "port must be between 1 and 65535"),
        ([*base, "--max-concurrent-jobs", "0"], "at least 1"),
        (["add_server", "new-one", "--reset-host-key"], "give --host"),
        (["add_server", "not a slug!", "--host", "h"], "name"),
    ]
    for args, expected in cases:
        with pytest.raises(CommandError, match=re.escape(expected)):
            call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not Server.objects.exists()


def test_reset_host_key_alone_forgets_the_key_and_next_contact_pins_again(server):
    code, out, err, _ = run("remote_exec", server.name, "true")
    assert code == 0 and out == ""
    server.refresh_from_db()
    fingerprint = server.host_key_fingerprint
    assert fingerprint.startswith("SHA256:")
    assert f"Pinned the host key of {server.name} on first contact: {fingerprint}" in err

    code, out, _, _ = run("add_server", server.name, "--reset-host-key")
    assert code == 0 and "Forgot the pinned host key" in out and "not pinned yet" in out
    server.refresh_from_db()
    assert server.host_key == "" and server.host_key_pinned_at is None
    assert target_for(server).private_key  # the credential is kept

    run("remote_exec", server.name, "true")
    server.refresh_from_db()
    assert server.host_key_fingerprint == fingerprint
    _, out, _, _ = run("add_server", server.name, "--update", "--port", str(server.port))
    assert f"pinned {fingerprint}" in out


# ---- remote_exec inline ---------------------------------------------------------------------
def test_inline_exit_code_and_streams_pass_through_in_a_real_process(server):
    proc = manage("remote_exec", server.name, "echo out1; echo err1 >&2; echo out2; printf 'last'; exit 3")
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "out1\nout2\nlast\n"
    assert "err1\n" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Connecting to" not in proc.stderr  # app INFO records stay off the terminal


def test_inline_timeout_exits_124_and_stops_the_remote_process(server, sshd):
    duration = unique_sleep()
    code, out, _, message = run("remote_exec", server.name, f"echo started; sleep {duration}", "--timeout", "1")
    assert code == 124
    assert out == "started\n"
    assert "Timed out after 1 s" in message
    assert sshd.run_local(f"pgrep -f '[s]leep {duration}' || true").stdout.strip() == ""


def test_inline_ssh_failure_exits_255_with_the_reason(make_server, transactional_db):
    closed_port = free_port()
    dead = make_server(name="dead", port=closed_port)
    code, out, _, message = run("remote_exec", dead.name, "true")
    assert code == 255 and out == ""
    assert "connection refused" in message and str(closed_port) in message


def test_inline_ctrl_c_stops_the_remote_command_and_exits_130(server, sshd):
    duration = unique_sleep()
    code, err = ctrl_c_remote_exec(server.name, duration)
    assert code == 130, err
    assert "Interrupted: the remote command was stopped." in err and "Traceback" not in err
    assert sshd.run_local(f"pgrep -f '[s]leep {duration}' || true").stdout.strip() == ""


def test_bad_options_are_command_errors(server):
    for args, expected in [
        (["remote_exec", "nope", "true"], "No server named 'nope'"),
        (["remote_exec", server.name, "true", "--timeout", "abc"], "--timeout must be a number"),
        (["remote_exec", server.name, "true", "--timeout", "0"], "--timeout must be between 1 and"),
        (["remote_exec", server.name, "   "], "command must be a non-empty string"),
        (["job_status", "remote_exec-00000000"], "No job with id 'remote_exec-00000000'"),
        (["job_status", "x", "--tail", "-1"], "--tail must be a whole number"),
        (["cancel_job", "nope"], "No job with id 'nope'"),
    ]:
        with pytest.raises(CommandError, match=re.escape(expected)):
            call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())


def test_unknown_job_in_a_real_process_is_one_line_without_traceback(transactional_db):
    proc = manage("job_status", "remote_exec-00000000")
    assert proc.returncode == 1
    assert proc.stdout == ""
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("CommandError: No job with id 'remote_exec-00000000'")


# ---- remote_exec as a job ---------------------------------------------------------------------
def test_job_option_creates_an_enqueued_job_and_prints_its_id(server):
    from django_q.models import OrmQ

    code, out, _, _ = run(
        "remote_exec", server.name, "echo", "hi there", "--job", "--timeout", "30", "--workdir", "/tmp"
    )
    assert code == 0
    job_id = out.strip()
    assert JOB_ID_RE.match(job_id)
    job = Job.objects.get(job_id=job_id)
    assert job.status == "pending" and job.server == server and job.timeout == 30
    assert job.params == {"command": "echo hi there", "working_dir": "/tmp"}
    assert [q.task["name"] for q in OrmQ.objects.all()] == [job_id]


class _Handshake(io.StringIO):
    """Releases the remote command (creates its flag file) once `first` has been printed,
    and records the job's status at that moment: proof that lines stream while it runs."""

    def __init__(self, flag: Path) -> None:
        super().__init__()
        self.flag = flag
        self.status_when_first_printed = None

    def write(self, text: str) -> int:
        n = super().write(text)
        if "first" in self.getvalue() and self.status_when_first_printed is None:
            self.status_when_first_printed = Job.objects.values_list("status", flat=True).get()
            self.flag.touch()
        return n


def test_follow_streams_lines_while_the_job_runs_and_exits_with_its_code(server):
    flag = Path(f"/tmp/livchat-flag-{uuid.uuid4().hex}")
    command = f"echo first; while [ ! -e {flag} ]; do sleep 0.05; done; echo second; echo oops >&2; exit 4"
    worker = threading.Thread(target=_run_when_created, args=(command,), daemon=True)
    worker.start()
    out = _Handshake(flag)
    try:
        # With a broken follow the job would wait for its flag until this timeout, then fail the test.
        code, _, err, _ = run("remote_exec", server.name, command, "--follow", "--timeout", "30", stdout=out)
    finally:
        flag.unlink(missing_ok=True)
        worker.join(timeout=60)
    assert out.status_when_first_printed == "running"
    assert out.getvalue() == "first\nsecond\n"
    assert "oops\n" in err
    job = Job.objects.get()
    assert job.status == "failed" and job.exit_code == 4
    assert code == 4


def _run_when_created(command: str) -> None:
    """A stand-in for the queue's worker: run the job's task body once the CLI created it."""
    from django.db import connection as conn

    from jobs.tasks import run_job

    try:
        job_id = wait_for(
            lambda: Job.objects.filter(params__command=command).values_list("job_id", flat=True).first(),
            timeout=60,
            interval=0.05,
            message="the command to create its job",
        )
        run_job(job_id)
    finally:
        conn.close()


# ---- job_logs / job_status / cancel_job ----------------------------------------------------------
def test_job_logs_follow_prints_what_the_log_file_holds_and_exits_with_the_job_code(server, run_job_in_thread):
    job = create_remote_exec_job(server=server, command="echo a; echo b >&2; sleep 0.5; echo c; exit 2", enqueue=False)
    run_job_in_thread(job)
    code, out, _, message = run("job_logs", job.job_id, "--follow")
    job.refresh_from_db()
    assert job.status == "failed" and code == 2
    assert f"Job {job.job_id} failed (exit code 2)" in message
    assert out == Path(job.log_file).read_text()
    assert [line.split(": ", 1)[1] for line in out.splitlines() if " stdout: " in line] == ["a", "c"]


def test_job_logs_filters_and_tail(server, run_job):
    job = finished_job(server, run_job, "echo alpha1; echo beta2 >&2; echo alpha3; exit 1")
    file_lines = Path(job.log_file).read_text().splitlines(keepends=True)
    assert len(file_lines) == job.line_count

    assert run("job_logs", job.job_id)[1] == "".join(file_lines)
    _, out, _, _ = run("job_logs", job.job_id, "--stream", "stderr")
    assert len(out.splitlines()) == 1 and LOG_LINE_RE.match(out) and out.endswith(" INFO stderr: beta2\n")
    _, out, _, _ = run("job_logs", job.job_id, "--grep", r"^alpha\d$")
    assert [line.split(": ", 1)[1] for line in out.splitlines()] == ["alpha1", "alpha3"]
    _, out, _, _ = run("job_logs", job.job_id, "--level", "error")
    assert out and all(" ERROR system: " in line for line in out.splitlines())
    assert run("job_logs", job.job_id, "--tail", "2")[1] == "".join(file_lines[-2:])
    _, out, _, _ = run("job_logs", job.job_id, "--tail", "1", "--stream", "stdout")
    assert out.endswith(" INFO stdout: alpha3\n") and len(out.splitlines()) == 1
    # --follow on a finished job prints the filtered lines and exits with its code at once
    code, out, _, _ = run("job_logs", job.job_id, "--follow", "--stream", "stdout")
    assert code == 1 and [line.split(": ", 1)[1] for line in out.splitlines()] == ["alpha1", "alpha3"]

    for args, expected in [
        (["--grep", "("], "Not a valid regular expression"),
        (["--level", "LOUD"], "--level must be one of DEBUG, INFO"),
        (["--stream", "stdin"], "--stream must be one of stdout, stderr, system"),
        (["--tail", "0"], "--tail must be a whole number between 1 and 10000"),
    ]:
        with pytest.raises(CommandError, match=re.escape(expected)):
            call_command("job_logs", job.job_id, *args, stdout=io.StringIO(), stderr=io.StringIO())


def test_job_status_text_and_json(server, run_job):
    job = finished_job(server, run_job, "echo one; echo two; exit 5")
    code, out, _, _ = run("job_status", job.job_id, "--json", "--tail", "3")
    assert code == 0
    data = json.loads(out)
    assert data["job_id"] == job.job_id and data["status"] == "failed" and data["exit_code"] == 5
    assert data["server"] == server.name and data["params"]["command"] == "echo one; echo two; exit 5"
    assert data["line_count"] == job.line_count and data["logs_expired_at"] is None
    assert data["started_at"] and data["finished_at"]
    assert [line["seq"] for line in data["lines"]] == list(range(job.last_seq - 2, job.last_seq + 1))

    _, out, _, _ = run("job_status", job.job_id, "--tail", "2")
    assert "failed, exit code 5" in out and f"Lines     {job.line_count}" in out
    assert "Command exited with code 5." in out
    assert out.rstrip("\n").splitlines()[-2:] == Path(job.log_file).read_text().splitlines()[-2:]


def test_cancel_of_a_pending_job(server):
    job = create_remote_exec_job(server=server, command="sleep 100", enqueue=False)
    code, out, _, _ = run("cancel_job", job.job_id)
    assert code == 0 and f"Job {job.job_id} cancelled." in out
    job.refresh_from_db()
    assert job.status == "cancelled" and job.cancel_requested_by == f"cli:{getpass.getuser()}"
    assert job.finished_at is not None
    with pytest.raises(CommandError, match="has already finished"):
        call_command("cancel_job", job.job_id, stdout=io.StringIO(), stderr=io.StringIO())


def test_job_logs_piped_into_head_exits_quietly(server, run_job):
    job = finished_job(server, run_job, "seq 1 30000")
    proc = manage_popen("job_logs", job.job_id)
    try:
        first = proc.stdout.readline()
        proc.stdout.close()  # what `| head -n 1` does after its first line
        err = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert LOG_LINE_RE.match(first)
    assert proc.returncode == 141
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err


def test_job_logs_follow_ctrl_c_exits_130_without_traceback(server):
    job = create_remote_exec_job(server=server, command="sleep 100", enqueue=False)
    Job.objects.filter(pk=job.pk).update(status="running", last_seq=1, line_count=1)
    JobLogLine.objects.create(job=job, seq=1, ts=job.created_at, message="still working")
    proc = manage_popen("job_logs", job.job_id, "--follow")
    try:
        line = proc.stdout.readline()  # it is in the follow loop now: the job never ends
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert line.endswith(" INFO stdout: still working\n")
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


# ---- create_token ------------------------------------------------------------------------------
def test_create_token_prints_only_a_working_bearer_token(staff_user):
    code, out, err, _ = run("create_token", staff_user.username, "--name", "ci")
    assert code == 0
    token = out.strip()
    assert out == token + "\n" and token.startswith("lc_") and token not in err
    client = Client()
    assert client.get("/api/jobs/").status_code == 401
    response = client.get("/api/jobs/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200 and response.json() == []
    assert client.get("/api/jobs/", HTTP_AUTHORIZATION=f"Bearer {token}x").status_code == 401


def test_create_token_refuses_unknown_users_and_users_without_a_role(transactional_db):
    make_user("plain", role=None)
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("create_token", "ghost", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="'plain' has no role"):
        call_command("create_token", "plain", stdout=io.StringIO(), stderr=io.StringIO())
