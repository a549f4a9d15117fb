"""Playbook jobs: real ansible-playbook through ansible-runner against the test sshd (non-root user)."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from jobs.models import Job, JobLogLine
from jobs.runners.playbook import processes
from jobs.runners.playbook.catalog import list_playbooks, parse_extra_var_args, resolve_playbook
from jobs.services import JobInputError, create_job, create_playbook_job, request_cancel
from servers import ssh
from servers.services import pin_host_key, target_for
from tests.helpers import copy_test_playbook, free_port, wait_for
from tests.sshd import start_sshd

pytestmark = pytest.mark.django_db(transaction=True)

BUILTIN = Path(django_settings.BASE_DIR) / "playbooks"


def _job(server_or_servers, playbook: str, **kw) -> Job:
    servers = server_or_servers if isinstance(server_or_servers, list) else [server_or_servers]
    return create_playbook_job(playbook=playbook, servers=servers, enqueue=False, **kw)


def _rows(job: Job, **filters) -> list[dict]:
    qs = JobLogLine.objects.filter(job=job, **filters).order_by("seq")
    return list(qs.values("seq", "level", "stream", "message", "host", "task", "event"))


def _runner_dir(job: Job) -> Path:
    return Path(django_settings.DATA_DIR) / "runner" / job.job_id


def _processes_of(job: Job) -> list[int]:
    return processes.processes_mentioning(job.job_id)


async def _first_contact(target: ssh.Target) -> ssh.SeenHostKey:
    conn, seen = await ssh.connect(target)
    async with conn:
        return seen


# ---- the happy path, live -------------------------------------------------------------------
def test_lines_arrive_live_with_host_and_task_then_recap(server, run_job_in_thread, operator_dir):
    copy_test_playbook(operator_dir, "slow.yml")
    job = _job(server, "slow.yml")
    thread = run_job_in_thread(job)

    def live_state():
        job.refresh_from_db()
        first = _rows(job, task="first step", host="test", event="runner_on_ok")
        # The status row and the log rows travel separately (the sink flushes in batches),
        # so wait for both rather than assume one implies the other.
        started = _rows(job, event="playbook_on_task_start", task="slow step")
        return job.status == "running" and job.current_step == "slow step" and first and started and job

    wait_for(live_state, timeout=60, interval=0.05, message="first task's rows while the playbook runs")
    # The later task has not run yet, so these rows were stored live, not at the end.
    assert not _rows(job, task="last step")
    assert 0 < job.progress < 100  # one of three tasks done
    task_start = _rows(job, event="playbook_on_task_start", task="slow step")
    assert task_start[0]["message"].startswith("TASK [slow step]")
    # The private folder exists only during the run: folder 0700, key 0600.
    rundir = _runner_dir(job)
    assert stat.S_IMODE(rundir.stat().st_mode) == 0o700
    keys = list((rundir / "ssh").glob("key-*"))
    assert keys and all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)

    thread.join(60)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert job.exit_code == 0 and job.progress == 100
    assert job.result["hosts"] == {
        "test": {"ok": 3, "changed": 1, "failed": 0, "unreachable": 0, "skipped": 0, "rescued": 0, "ignored": 0}
    }
    assert [r["message"] for r in _rows(job, task="last step", event="runner_on_ok")][:1] == ["ok: [test] => {"]
    recap = _rows(job, event="playbook_on_stats", host="test")
    assert len(recap) == 1 and "ok=3" in recap[0]["message"] and recap[0]["level"] == "INFO"
    seqs = [r["seq"] for r in _rows(job)]
    assert seqs == list(range(1, len(seqs) + 1)) and job.last_seq == seqs[-1]
    assert not rundir.exists(), "the private data dir must be deleted after the run"
    assert _processes_of(job) == [], "no ansible-playbook or ssh process may outlive the job"


def test_failing_task_fails_the_job_with_an_error_line(server, run_job, operator_dir):
    copy_test_playbook(operator_dir, "failing.yml")
    # What a worker killed mid-run leaves behind is swept by the next run.
    stale = Path(django_settings.DATA_DIR) / "runner" / "playbook-deadbeef"
    (stale / "ssh").mkdir(parents=True)
    (stale / "ssh" / "key-0").write_text("left by a dead worker")
    job = run_job(_job(server, "failing.yml"))
    assert not stale.exists()
    assert job.status == "failed"
    assert job.exit_code == 2  # ansible-playbook: a host failed
    assert job.error.startswith("Failed on test: breaks here: "), job.error
    errors = _rows(job, level="ERROR", event="runner_on_failed")
    assert errors and all(r["host"] == "test" and r["task"] == "breaks here" for r in errors)
    assert any(r["message"].startswith("fatal: [test]: FAILED!") for r in errors)
    assert not _rows(job, task="never runs")
    assert job.result["hosts"]["test"]["failed"] == 1 and job.result["hosts"]["test"]["ok"] == 1
    assert _rows(job, event="playbook_on_stats", host="test", level="ERROR")


# ---- servers that cannot be used ------------------------------------------------------------
def test_unreachable_server_alone_fails_without_running_ansible(make_server, run_job, transactional_db):
    down = make_server(name="down", port=free_port())
    job = run_job(_job(down, "ping.yml"))
    assert job.status == "failed"
    assert "Cannot reach" in job.error and "connection refused" in job.error
    assert job.result["hosts"]["down"]["unreachable"] == 1
    assert _rows(job, level="ERROR", host="down")
    assert not _rows(job, stream="stdout")


def test_one_unreachable_server_among_several(make_server, server, run_job):
    down = make_server(name="down", port=free_port())
    job = run_job(_job([server, down], "ping.yml"))
    assert job.status == "failed"
    assert job.result["hosts"]["test"]["ok"] == 1 and job.result["hosts"]["test"]["unreachable"] == 0
    assert job.result["hosts"]["down"]["unreachable"] == 1
    assert job.error.startswith("Failed on down: Cannot reach "), job.error
    assert job.exit_code == 4  # ansible's "host unreachable" code, never 0 for a failed job
    assert _rows(job, host="test", event="runner_on_ok")  # the reachable one still ran


def test_changed_host_key_is_refused_with_both_fingerprints(make_server, run_job, tmp_path):
    own = start_sshd(tmp_path / "sshd")
    try:
        srv = make_server(name="rekeyed", ssh=own)
        seen = asyncio.run(_first_contact(target_for(srv)))
        pin_host_key(server_id=srv.pk, seen=seen)
        own.regenerate_host_keys()
        own.stop()
        own.start()
        new_fp = ssh.fingerprint_of(own.host_key_paths[0].with_suffix(".pub").read_text())
        job = run_job(_job(srv, "ping.yml"))
    finally:
        own.close()
    assert job.status == "failed"
    assert "has changed" in job.error
    assert seen.fingerprint in job.error and new_fp in job.error
    assert not _rows(job, stream="stdout"), "Ansible must not run against a server whose key changed"
    assert len(_rows(job, level="ERROR", message__startswith="Host key of rekeyed")) == 1  # said once
    srv.refresh_from_db()
    assert srv.host_key_fingerprint == seen.fingerprint  # the pin is kept, not replaced


def test_password_only_server_is_refused_clearly(sshd, run_job, transactional_db):
    from servers.services import create_or_update_server

    secret = "pw-" + uuid.uuid4().hex
    srv, _ = create_or_update_server(name="pw", host=sshd.host, port=sshd.port, username=sshd.username, password=secret)
    with pytest.raises(JobInputError, match="password login is not supported for playbooks; add a key"):
        _job(srv, "ping.yml")
    # A job whose server lost its key after the job was created fails the same way when it runs.
    job = run_job(
        create_job(job_type="playbook", servers=[srv], params={"playbook": "ping.yml"}, timeout=60, enqueue=False)
    )
    assert job.status == "failed" and "add a key" in job.error
    assert all(secret not in r["message"] for r in _rows(job))


# ---- stopping a playbook ----------------------------------------------------------------------
def _remote_pids(sshd, marker: str) -> list[int]:
    # The "remote" server is this machine: the test user's processes are visible here
    # (ansible-playbook, which has the marker in its -e argument, runs as root).
    return sorted(set(processes.processes_mentioning(marker)) & set(sshd.pids_of_user()))


@pytest.mark.parametrize("how", ["cancel", "timeout"])
def test_stopping_kills_ansible_and_the_remote_command(how, sshd, server, run_job_in_thread, operator_dir):
    copy_test_playbook(operator_dir, "hang.yml")
    marker = f"livchat-marker-{uuid.uuid4().hex}"
    job = _job(server, "hang.yml", extra_vars={"marker": marker}, timeout=6 if how == "timeout" else 120)
    thread = run_job_in_thread(job)
    wait_for(lambda: _remote_pids(sshd, marker), timeout=60, interval=0.05, message="the remote sleep to start")
    assert _processes_of(job), "ansible-playbook runs while the task waits"
    assert _rows(job, task="wait a long time", event="playbook_on_task_start")
    if how == "cancel":
        request_cancel(job=job, requested_by="tester")
    thread.join(60)
    job.refresh_from_db()
    if how == "cancel":
        assert job.status == "cancelled" and job.error == "Cancelled by tester."
        assert _rows(job, level="WARNING", message__startswith="Cancel requested by tester")
    else:
        assert job.status == "timed_out" and job.error == "Timed out after 6 s."
    assert job.current_step == "wait a long time"
    assert _processes_of(job) == [], "ansible-playbook and its ssh processes must be gone"
    assert _remote_pids(sshd, marker) == [], "the remote command started by the task must be stopped"
    assert _rows(job, stream="system", message__regex=r"^Stopped [0-9]+ remote process")
    assert not _runner_dir(job).exists()
    assert _rows(job, task="before the wait", event="runner_on_ok")


# ---- names and input --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["../livchat/settings.py", "../../etc/passwd.yml", "/etc/passwd.yml", "sub/ping.yml", "ping", ".hidden.yml", "", 7],
)
def test_invalid_or_escaping_playbook_names_are_refused(name, server):
    with pytest.raises(JobInputError, match="playbook"):
        _job(server, name)
    assert not Job.objects.exists()


def test_unknown_playbook_lists_the_available_ones(server):
    with pytest.raises(JobInputError, match=r"No playbook named 'nope.yml'\. Available: .*ping\.yml"):
        _job(server, "nope.yml")


def test_symlink_leading_out_of_the_folder_is_refused(server, operator_dir, tmp_path):
    outside = tmp_path / "outside.yml"
    outside.write_text("- hosts: all\n  tasks: []\n")
    (operator_dir / "evil.yml").symlink_to(outside)
    with pytest.raises(JobInputError, match="outside the playbook folders"):
        _job(server, "evil.yml")
    assert "evil.yml" not in [p.name for p in list_playbooks()]


def test_listing_builtin_and_operator_playbooks(operator_dir):
    (operator_dir / "mine.yaml").write_text("---\n# Deploy my app.\n# Second line.\n- hosts: all\n  tasks: []\n")
    (operator_dir / "ping.yml").write_text("# shadowed by the built-in one\n")
    (operator_dir / "notes.txt").write_text("not a playbook")
    found = {p.name: p for p in list_playbooks()}
    assert {"ping.yml", "facts.yml", "disk_usage.yml", "uptime.yml", "base_setup.yml"} <= set(found)
    assert found["mine.yaml"].source == "operator" and found["mine.yaml"].description == "Deploy my app. Second line."
    assert found["ping.yml"].source == "builtin" and found["ping.yml"].description.startswith("Check that Ansible")
    assert "notes.txt" not in found
    assert resolve_playbook("mine.yaml").path == (operator_dir / "mine.yaml").resolve()


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"ansible_ssh_common_args": "-o StrictHostKeyChecking=no"}, "connection settings"),
        ({"bad name": 1}, "not a valid variable name"),
        ([1, 2], "must be an object"),
        ({"x": float("nan")}, "JSON values"),
    ],
)
def test_bad_extra_vars_are_refused(extra_vars, message, server):
    with pytest.raises(JobInputError, match=message):
        _job(server, "ping.yml", extra_vars=extra_vars)


def test_extra_var_arguments_from_a_command_line():
    assert parse_extra_var_args(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(JobInputError, match="NAME=VALUE"):
        parse_extra_var_args(["novalue"])


# ---- secrets ------------------------------------------------------------------------------------
def test_no_secret_in_the_private_data_dir_lines_or_result(sshd, run_job, settings, monkeypatch, transactional_db):
    from servers.services import create_or_update_server

    password = "pw-" + uuid.uuid4().hex
    env_secret = "env-" + uuid.uuid4().hex
    monkeypatch.setenv("LIVCHAT_PROBE_SECRET", env_secret)
    srv, _ = create_or_update_server(
        name="both",
        host=sshd.host,
        port=sshd.port,
        username=sshd.username,
        private_key=sshd.private_key_text,
        password=password,
    )
    settings.LIVCHAT_KEEP_RUNNER_ARTIFACTS = True  # keep what Ansible wrote so it can be searched
    job = run_job(_job(srv, "ping.yml"))
    assert job.status == "succeeded", job.error
    key_body = "".join(sshd.private_key_text.strip().splitlines()[1:-1])
    secrets = [password, env_secret, django_settings.SECRET_KEY, key_body[:40], key_body[-40:]]
    rundir = _runner_dir(job)
    files = [p for p in rundir.rglob("*") if p.is_file()]
    assert files, "artifacts were kept for this check"
    assert any(p.name == "command" for p in files)  # ansible-runner's record of the environment
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        for secret in secrets:
            assert secret not in text, f"a secret was left in {path}"
    assert not (rundir / "ssh").exists(), "the key file is deleted even when artifacts are kept"
    stored = " ".join(r["message"] for r in _rows(job)) + repr(job.result) + job.error
    for secret in secrets:
        assert secret not in stored


# ---- the built-in playbooks ---------------------------------------------------------------------
def test_builtin_playbooks_pass_ansible_syntax_check():
    names = sorted(p.name for p in BUILTIN.glob("*.yml"))
    assert names == ["base_setup.yml", "disk_usage.yml", "facts.yml", "ping.yml", "uptime.yml"]
    bin_dir = os.path.dirname(sys.executable)
    result = subprocess.run(
        [os.path.join(bin_dir, "ansible-playbook"), "--syntax-check", "-i", "localhost,", *names],
        cwd=BUILTIN,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")},
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("playbook", "expected"),
    [("uptime.yml", "load average"), ("disk_usage.yml", "Filesystem"), ("facts.yml", "Memory: ")],
)
def test_read_only_builtin_playbooks_run(playbook, expected, server, run_job):
    job = run_job(_job(server, playbook))
    assert job.status == "succeeded", job.error
    assert any(expected in r["message"] for r in _rows(job, host="test"))
    assert job.result["hosts"]["test"]["changed"] == 0 and job.result["hosts"]["test"]["failed"] == 0


def test_base_setup_check_mode_then_for_real(sshd, server, run_job):
    home = Path(os.path.expanduser(f"~{sshd.username}"))
    work = f"lc-base-{uuid.uuid4().hex[:8]}"
    extra = {"base_work_dir": f"~/{work}"}
    try:
        checked = run_job(_job(server, "base_setup.yml", extra_vars=extra, check=True))
        assert checked.status == "succeeded", checked.error
        assert checked.result["hosts"]["test"]["changed"] >= 2  # directory and note would change...
        assert not (home / work).exists()  # ...but check mode changed nothing
        done = run_job(_job(server, "base_setup.yml", extra_vars=extra))
        assert done.status == "succeeded", done.error
        note = (home / work / "motd").read_text()
        assert "Host: test" in note and f"Login user: {sshd.username}" in note
        tasks = {r["task"] for r in _rows(done, host="test")}
        assert {"Create the work directory", "Write the login note", "Show memory", "Show disk space"} <= tasks
        assert any(r["message"].startswith("changed: [test]") for r in _rows(done, task="Write the login note"))
        assert any("Memory: " in r["message"] for r in _rows(done, task="Show memory"))
        skipped = _rows(done, task="Install missing base packages", host="test")
        assert skipped and skipped[0]["message"].startswith("skipping: [test]")  # no become by default
    finally:
        subprocess.run(["rm", "-rf", str(home / work)], check=False)


def test_broken_playbook_fails_with_ansibles_error(server, run_job, operator_dir):
    (operator_dir / "broken.yml").write_text("- name: Broken\n  hosts: all\n  tasks:\n    - no_such_module_xyz: {}\n")
    job = run_job(_job(server, "broken.yml"))
    assert job.status == "failed"
    assert job.error.startswith("ansible-playbook exited with code ") and "no_such_module_xyz" in job.error
    assert _rows(job, level="ERROR", stream="stdout", message__contains="no_such_module_xyz")
    assert _rows(job, level="ERROR", stream="stdout", message__startswith="Origin: ")  # the error's details
