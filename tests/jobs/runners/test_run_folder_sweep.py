"""No key file outlives its job (issue 10, section 8): a playbook run's private folder is swept
by the reaper and by `serve` at start-up once its job is final or unknown, and a process-group
id from the remote side is used only when it is > 1 and the one this run printed."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from jobs.models import Job
from jobs.reaper import reap_scheduled
from jobs.runners.playbook import processes
from jobs.runners.playbook.rundir import _control_prefix, runner_base, sweep_stale_dirs
from jobs.runners.shell import _Run, stream_command
from jobs.services import create_playbook_job
from servers import ssh
from servers.services import target_for
from tests.helpers import os_killpg, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _fake_run_folder(job_id: str) -> Path:
    folder = runner_base() / job_id
    (folder / "ssh").mkdir(parents=True, mode=0o700)
    key = folder / "ssh" / "key-0"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real one\n")
    key.chmod(0o600)
    return folder


def _leftover_process(folder: Path) -> subprocess.Popen:
    # Like an ssh master left by a dead run: its command line names the run's folder.
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", str(folder / "cp" / "master")])


# ---- a worker killed mid-playbook --------------------------------------------------------------
def test_reaper_sweeps_the_folder_and_processes_of_a_worker_killed_mid_playbook(
    server, sshd, subprocess_env, operator_dir, settings
):
    folder = operator_dir
    pause = f"{400 + time.monotonic_ns() % 100}.{os.getpid() % 10}3"  # a remote process to find
    (folder / "hang.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        f"    - name: wait\n      ansible.builtin.command: sleep {pause}\n"
    )
    job = create_playbook_job(playbook="hang.yml", servers=[server], enqueue=False)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", f"from jobs.tasks import run_job; run_job({job.job_id!r})"],
        cwd=django_settings.BASE_DIR,
        env={**subprocess_env, "LIVCHAT_PLAYBOOK_DIR": str(folder)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    rundir = runner_base() / job.job_id
    try:
        wait_for(
            lambda: sshd.run_local(f"pgrep -f '[s]leep {pause}' || true").stdout.strip(),
            timeout=90,
            message="the playbook's task to run",
        )
        keys = list((rundir / "ssh").glob("key-*"))
        assert keys and all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)
        os_killpg(worker.pid, signal.SIGKILL)  # the worker dies without cleaning up
        worker.wait(10)
        assert keys[0].exists(), "the dead worker left its key file behind"
        assert processes.processes_mentioning(str(rundir)), "and ansible-playbook / ssh still running"

        settings.HEARTBEAT_STALE_SECONDS = 0
        summary = reap_scheduled()
        assert "reaped 1 lost job(s)" in summary and "swept 1 playbook run folder(s)" in summary, summary
        job.refresh_from_db()
        assert job.status == "failed" and job.error == "worker lost"
        assert not rundir.exists()
        assert processes.processes_mentioning(str(rundir)) == []
    finally:
        if worker.poll() is None:
            os_killpg(worker.pid, signal.SIGKILL)
        for pid in sshd.run_local(f"pgrep -f '[s]leep {pause}' || true").stdout.split():
            sshd.run_local(f"kill {int(pid)} || true")


# ---- at start-up ---------------------------------------------------------------------------------
def test_serve_sweeps_folders_of_final_and_unknown_jobs_at_start_up(server, settings):
    finished = create_playbook_job(playbook="ping.yml", servers=[server], enqueue=False)
    Job.objects.filter(pk=finished.pk).update(status="failed", finished_at=timezone.now())
    running = create_playbook_job(playbook="ping.yml", servers=[server], enqueue=False)
    Job.objects.filter(pk=running.pk).update(status="running", started_at=timezone.now(), heartbeat_at=timezone.now())
    unknown = _fake_run_folder(f"playbook-{uuid.uuid4().hex[:8]}")  # its job row is gone
    old = _fake_run_folder(finished.job_id)
    live = _fake_run_folder(running.job_id)
    leftover = _leftover_process(unknown)
    try:
        wait_for(lambda: processes.processes_mentioning(str(unknown)), message="the leftover process")
        out = io.StringIO()
        # Neither web nor worker: only what serve does first (migrate, schedules, clean-up).
        call_command("serve", "--no-web", "--no-worker", "--skip-migrate", stdout=out)
        assert "swept 2 playbook run folder(s)" in out.getvalue(), out.getvalue()
        assert not unknown.exists() and not old.exists()
        assert (live / "ssh" / "key-0").exists(), "a running job keeps its folder"
        assert leftover.wait(10) is not None, "what the dead run left running is stopped"
    finally:
        if leftover.poll() is None:
            leftover.kill()
        leftover.wait()
        shutil.rmtree(live, ignore_errors=True)


def test_kept_artifacts_still_lose_their_keys(server, settings):
    settings.LIVCHAT_KEEP_RUNNER_ARTIFACTS = True
    folder = _fake_run_folder(f"playbook-{uuid.uuid4().hex[:8]}")
    (folder / "artifacts").mkdir()
    assert folder.name in sweep_stale_dirs()
    assert (folder / "artifacts").is_dir() and not (folder / "ssh").exists()
    assert folder.name not in sweep_stale_dirs()  # nothing left to sweep there
    shutil.rmtree(folder)


def test_control_socket_folders_in_the_temp_dir_are_swept_for_dead_runs_only(server):
    running = create_playbook_job(playbook="ping.yml", servers=[server], enqueue=False)
    Job.objects.filter(pk=running.pk).update(status="running")
    dead = Path(tempfile.mkdtemp(prefix=f"{_control_prefix()}{uuid.uuid4().hex[:8]}-"))
    alive = Path(tempfile.mkdtemp(prefix=f"{_control_prefix()}{running.job_id[-8:]}-"))
    other_install = Path(tempfile.mkdtemp(prefix=f"lvc-000000-{uuid.uuid4().hex[:8]}-"))
    try:
        sweep_stale_dirs()
        assert not dead.exists() and alive.exists() and other_install.exists()
    finally:
        for p in (dead, alive, other_install):
            if p.exists():
                p.rmdir()


# ---- the remote process group id ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"__LIVCHAT_PGID__=abc123=4242", 4242),
        (b"__LIVCHAT_PGID__=abc123=4242\r", 4242),
        (b"__LIVCHAT_PGID__=abc123=1", None),  # kill -- -1: every process of the user
        (b"__LIVCHAT_PGID__=abc123=0", None),  # our own group on the remote side
        (b"__LIVCHAT_PGID__=abc123=-7", None),
        (b"__LIVCHAT_PGID__=abc123=99999999", None),  # no such pid
        (b"__LIVCHAT_PGID__=abc123=12 34", None),
        (b"__LIVCHAT_PGID__=abc123=", None),
        (b"__LIVCHAT_PGID__=abc123=\xd9\xa4\xd9\xa2", None),  # non-ASCII digits
        (b"__LIVCHAT_PGID__=4242", None),  # without this run's nonce: not the line we printed
        (b"__LIVCHAT_PGID__=other9=4242", None),  # another run's nonce
        (b"hello", None),
    ],
)
def test_pgid_marker_parser(line, expected):
    assert ssh.parse_pgid_marker(line, nonce="abc123") == expected


def test_the_marker_line_is_only_taken_with_this_runs_nonce():
    run = _Run(process=None, on_lines=None, nonce="n0nce")
    forged = b"__LIVCHAT_PGID__=1\nrest\n"
    assert run._take_marker(forged) == forged and run.pgid is None  # kept as output, not believed
    run = _Run(process=None, on_lines=None, nonce="n0nce")
    assert run._take_marker(b"__LIVCHAT_PGID__=n0nce=321\nout\n") == b"out\n" and run.pgid == 321
    assert "n0nce=" in ssh.wrap_command("true", nonce="n0nce")


async def _stream(server, command: str, timeout: float):
    conn, _ = await ssh.connect(target_for(server))
    lines: list[str] = []
    async with conn:
        outcome = await stream_command(
            conn, command=command, timeout=timeout, on_lines=lambda stream, batch: lines.extend(batch)
        )
    return outcome, lines


def test_a_forged_marker_line_is_output_and_the_timeout_kills_the_real_group(server, sshd):
    pause = f"{500 + time.monotonic_ns() % 100}.{os.getpid() % 10}9"
    outcome, lines = asyncio.run(_stream(server, f"printf '__LIVCHAT_PGID__=1\\n'; sleep {pause}", timeout=1))
    assert outcome.status == "timed_out"
    assert lines == ["__LIVCHAT_PGID__=1"]  # the command's own line is plain output, not a group id
    assert sshd.run_local(f"pgrep -f '[s]leep {pause}' || true").stdout.strip() == ""
