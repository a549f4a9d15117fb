"""Many processes, one truth: 2 daphne + 3 qcluster processes, 100 jobs, one worker killed.

Runs on whatever DATABASE_URL/REDIS_URL say; `make test` runs it on Postgres + Redis.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.request
from datetime import timedelta

import pytest
from django.conf import settings

from jobs.models import Job, JobLogLine
from jobs.reaper import kick_waiting_jobs, reap_lost_jobs
from tests.api_helpers import session_cookie
from tests.helpers import free_port, os_killpg, port_open, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

JOBS = 100
LINES = 2000
COMMAND = "for i in $(seq 1 20); do seq $((i*100-99)) $((i*100)); sleep 0.05; done"


def _spawn(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(procs) -> None:
    for p in procs:
        if p.poll() is None:
            os_killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os_killpg(p.pid, signal.SIGKILL)
            p.wait()


def _post_job(port: int, token: str, server: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/servers/{server}/exec",
        data=json.dumps({"command": COMMAND, "use_job": True}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 202
        return json.loads(response.read())["job_id"]


def _watch(port: int, job_id: str, cookie: str, out: dict) -> None:
    from websockets.sync.client import connect

    seqs = []
    url = f"ws://127.0.0.1:{port}/ws/jobs/{job_id}/"
    with connect(url, additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}) as ws:
        for raw in ws:
            msg = json.loads(raw)
            if msg["type"] == "lines":
                seqs += [line["seq"] for line in msg["lines"]]
            elif msg["type"] == "end":
                break
    out[job_id] = seqs


def test_two_webs_three_workers_hundred_jobs_one_worker_killed(make_server, staff_user, subprocess_env):
    from accounts.services import create_token

    server = make_server(name="fleet", max_concurrent_jobs=JOBS)
    _, token = create_token(user=staff_user)
    cookie = session_cookie(staff_user)
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    env = dict(subprocess_env, LIVCHAT_WORKERS="6", DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost")
    web_ports = [free_port(), free_port()]
    webs = [
        _spawn([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(p), "livchat.asgi:application"], env)
        for p in web_ports
    ]
    workers = [_spawn([*manage, "qcluster"], env) for _ in range(3)]
    try:
        for port in web_ports:
            wait_for(lambda port=port: port_open(port), timeout=30, message=f"daphne on {port}")
        # Warm-up job pins the host key before the crowd arrives.
        first = _post_job(web_ports[0], token, server.name)
        wait_for(lambda: Job.objects.get(job_id=first).is_final, timeout=90, message="the first job")

        job_ids: list[str] = []
        lock = threading.Lock()

        def submit(n: int) -> None:
            for _ in range(n):
                jid = _post_job(web_ports[0], token, server.name)
                with lock:
                    job_ids.append(jid)

        submitters = [threading.Thread(target=submit, args=(JOBS // 10,)) for _ in range(10)]
        for t in submitters:
            t.start()
        for t in submitters:
            t.join()
        assert len(job_ids) == JOBS

        watched: dict[str, list[int]] = {}
        watchers = [threading.Thread(target=_watch, args=(web_ports[1], jid, cookie, watched)) for jid in job_ids[:5]]
        for t in watchers:
            t.start()

        wait_for(
            lambda: Job.objects.filter(job_id__in=job_ids, status="succeeded").count() >= 15,
            timeout=120,
            message="some jobs to finish",
        )
        victim = workers[1]
        os_killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)

        # What the hourly/minutely schedules do, with short thresholds: reap, re-enqueue.
        def settled() -> bool:
            reap_lost_jobs(stale_after=8)
            kick_waiting_jobs(older_than=timedelta(seconds=10))
            return Job.objects.filter(job_id__in=job_ids).exclude(status__in=["succeeded", "failed"]).count() == 0

        wait_for(settled, timeout=240, interval=2, message="every job to end")
        for t in watchers:
            t.join(timeout=60)
    finally:
        _stop(webs + workers)

    jobs = list(Job.objects.filter(job_id__in=job_ids))
    lost = [j for j in jobs if j.status == "failed"]
    assert all(j.error == "worker lost" for j in lost), [j.error for j in lost]
    assert len(lost) <= 6, "only the killed worker's running jobs may be lost"
    for job in jobs:
        seqs = list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, job.last_seq + 1)), f"{job.job_id}: gap or duplicate in rows"
        with open(job.log_file, encoding="utf-8") as fh:
            assert sum(1 for _ in fh) == job.last_seq, f"{job.job_id}: file and rows differ"
        if job.status == "succeeded":
            out = list(
                JobLogLine.objects.filter(job=job, stream="stdout").order_by("seq").values_list("message", flat=True)
            )
            assert out == [str(i) for i in range(1, LINES + 1)]
    for job_id, seqs in watched.items():
        job = next(j for j in jobs if j.job_id == job_id)
        assert seqs == list(range(1, job.last_seq + 1)), f"viewer on the other daphne missed lines of {job_id}"
    assert len(watched) == 5
