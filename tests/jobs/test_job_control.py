"""Cancel, timeout, lost workers, dropped connections and per-server limits — for real."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job
from jobs.reaper import reap_lost_jobs
from jobs.services import create_remote_exec_job, request_cancel
from tests.helpers import os_killpg, wait_for, wait_running_with_line
from tests.sshd import start_sshd

pytestmark = pytest.mark.django_db(transaction=True)

# A parent and a child that both ignore SIGTERM: only SIGKILL of the whole group stops them.
STUBBORN = "trap '' TERM; (trap '' TERM; sleep {child}) & echo started; sleep {parent}; wait"


def _unique() -> tuple[str, str]:
    n = time.monotonic_ns() % 100000
    return f"3{n:05d}.1", f"3{n:05d}.2"


def _remote_left(pattern_a: str, pattern_b: str) -> str:
    out = subprocess.run(["pgrep", "-af", f"[s]leep ({pattern_a}|{pattern_b})"], capture_output=True, text=True)
    return out.stdout.strip()


def _cancel_and_check(server, run_job_in_thread) -> float:
    child, parent = _unique()
    job = create_remote_exec_job(server=server, command=STUBBORN.format(child=child, parent=parent), enqueue=False)
    thread = run_job_in_thread(job)
    wait_running_with_line(job, "started")
    assert _remote_left(child, parent), "the remote processes should be running before the cancel"
    t0 = time.monotonic()
    request_cancel(job=job, requested_by="alice")
    thread.join(timeout=30)
    latency = time.monotonic() - t0
    job.refresh_from_db()
    assert job.status == "cancelled" and job.error == "Cancelled by alice."
    assert _remote_left(child, parent) == "", "a process of the cancelled job is still running"
    system = list(job.lines.filter(stream="system").values_list("message", flat=True))
    assert any("Cancel requested by alice" in line for line in system)
    assert any("is gone" in line for line in system)
    return latency


def test_cancel_kills_the_whole_remote_tree_non_root(server, run_job_in_thread):
    latency = _cancel_and_check(server, run_job_in_thread)
    assert latency < 10  # generous bound: the figure itself is printed by the bench


@pytest.fixture(scope="module")
def root_sshd(tmp_path_factory):
    ssh = start_sshd(tmp_path_factory.mktemp("root-sshd"), allow_root=True)
    yield ssh
    ssh.close()


def test_cancel_kills_the_whole_remote_tree_as_root(root_sshd, make_server, run_job_in_thread):
    server = make_server(name="as-root", ssh=root_sshd, username="root")
    _cancel_and_check(server, run_job_in_thread)


def test_timeout_kills_stubborn_processes(server, run_job):
    child, parent = _unique()
    job = run_job(
        create_remote_exec_job(
            server=server, command=STUBBORN.format(child=child, parent=parent), timeout=2, enqueue=False
        )
    )
    assert job.status == "timed_out"
    assert _remote_left(child, parent) == ""


def test_cancel_pending_job_never_runs(server, run_job):
    job = create_remote_exec_job(server=server, command="echo should-not-run", enqueue=False)
    request_cancel(job=job, requested_by="bob")
    job.refresh_from_db()
    assert job.status == "cancelled"
    job = run_job(job)  # the queued task still arrives: it must not run
    assert job.status == "cancelled" and job.started_at is None
    assert not job.lines.exists()


def test_ssh_drop_mid_stream_fails_clearly_and_keeps_lines(tmp_path_factory, make_server, run_job_in_thread):
    ssh = start_sshd(tmp_path_factory.mktemp("drop-sshd"))
    try:
        server = make_server(name="dropper", ssh=ssh)
        job = create_remote_exec_job(
            server=server, command="for i in $(seq 1 200); do echo n$i; sleep 0.05; done", enqueue=False
        )
        thread = run_job_in_thread(job)
        wait_running_with_line(job, "n10")
        ssh.kill()
        thread.join(timeout=60)
        job.refresh_from_db()
        assert job.status == "failed"
        assert "Connection lost" in job.error
        stdout = list(job.lines.filter(stream="stdout").order_by("seq").values_list("message", flat=True))
        assert stdout[:10] == [f"n{i}" for i in range(1, 11)]
        assert stdout == [f"n{i}" for i in range(1, len(stdout) + 1)]  # no hole in what arrived
    finally:
        ssh.close()


def test_kill_9_of_a_real_worker_is_reaped(sshd, server, qcluster):
    # The marker lets the test stop its own remote loop, which the killed worker cannot.
    marker = f"livchat-kill9-{uuid.uuid4().hex}"
    command = f"for i in $(seq 1 600); do echo beat$i; sleep 0.1; done # {marker}"
    try:
        _reaped_after_kill_9(create_remote_exec_job(server=server, command=command), qcluster)
    finally:
        sshd.kill_marked(marker)
    assert not sshd.pids_with_marker(marker)


def _reaped_after_kill_9(job: Job, qcluster) -> None:
    wait_running_with_line(job, "beat5")
    os_killpg(qcluster.pid, signal.SIGKILL)
    qcluster.wait(timeout=10)
    job.refresh_from_db()
    assert job.status == "running"  # nobody told the database yet
    stored = job.lines.count()

    def heartbeat_older_than_2s():
        beat = Job.objects.values_list("heartbeat_at", flat=True).get(pk=job.pk)
        return timezone.now() - beat > timedelta(seconds=2)

    wait_for(heartbeat_older_than_2s, timeout=15, message="the dead worker's heartbeat to be 2 s old")
    assert reap_lost_jobs(stale_after=60) == []  # a 2 s old heartbeat is not lost
    assert reap_lost_jobs(stale_after=2) == [job.job_id]
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "worker lost" and job.finished_at
    last = job.lines.order_by("-seq").first()
    assert last.stream == "system" and last.message.startswith("Worker lost") and last.seq == job.last_seq
    assert job.lines.count() >= stored + 1
    with open(job.log_file, encoding="utf-8") as fh:
        assert "Worker lost" in fh.read().splitlines()[-1]


def test_per_server_limit_queues_jobs_in_order(make_server, qcluster):
    server = make_server(name="one-at-a-time", max_concurrent_jobs=1)
    jobs = [create_remote_exec_job(server=server, command=f"echo job{i}; sleep 1") for i in range(3)]

    def all_done():
        return all(Job.objects.get(pk=j.pk).is_final for j in jobs)

    wait_for(all_done, timeout=90, interval=0.2, message="three jobs on a one-slot server")
    done = [Job.objects.get(pk=j.pk) for j in jobs]
    assert [j.status for j in done] == ["succeeded"] * 3
    assert done[0].started_at < done[1].started_at < done[2].started_at
    for a, b in zip(done, done[1:], strict=False):
        assert a.finished_at <= b.started_at, "two jobs ran at once on a one-slot server"


def test_heartbeat_is_refreshed_while_the_command_is_silent(server, run_job_in_thread):
    job = create_remote_exec_job(server=server, command="echo begin; sleep 7; echo end", enqueue=False)
    thread = run_job_in_thread(job)
    wait_running_with_line(job, "begin")
    first = Job.objects.get(pk=job.pk).heartbeat_at
    beats = set()
    while thread.is_alive():
        beats.add(Job.objects.get(pk=job.pk).heartbeat_at)
        time.sleep(0.2)
    job.refresh_from_db()
    assert job.status == "succeeded"
    silent_beats = sorted(b for b in beats if b and b > first)
    assert silent_beats, "no heartbeat while the command printed nothing"
    assert (silent_beats[0] - first).total_seconds() <= 6.5


def test_schedules_are_created_once():
    from django_q.models import Schedule

    from jobs.schedules import ensure_schedules

    ensure_schedules()
    ensure_schedules()
    names = list(Schedule.objects.values_list("name", flat=True))
    assert sorted(names) == ["livchat-cleanup-logs", "livchat-reap-lost-jobs"]
    reaper = Schedule.objects.get(name="livchat-reap-lost-jobs")
    assert reaper.func == "jobs.reaper.reap_scheduled" and reaper.minutes == 1 and reaper.repeats == -1


def test_reaper_repairs_a_log_file_left_short_by_a_killed_worker(server, run_job):
    from jobs.log.logfile import repair

    job = run_job(create_remote_exec_job(server=server, command="seq 1 3000", enqueue=False))
    with open(job.log_file, "rb") as fh:
        whole = fh.read()
    # A worker killed after committing rows but before appending them, mid-line even.
    cut = whole.index(b"\n", len(whole) // 2) + 15
    with open(job.log_file, "wb") as fh:
        fh.write(whole[:cut])
    assert repair(job=job) > 0
    with open(job.log_file, "rb") as fh:
        assert fh.read() == whole
    assert repair(job=job) == 0  # already whole: nothing to do
