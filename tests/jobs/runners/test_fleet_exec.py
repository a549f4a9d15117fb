"""One command on many servers, as one job — against real sshd daemons.

Many Server records point at the session's sshd; a second sshd on another port fails on
purpose (the command reads the server port from $SSH_CONNECTION), and a closed port is an
unreachable server."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.core.management import call_command

from jobs.models import Job, JobLogLine
from jobs.services import create_fleet_exec_job, is_fleet, request_cancel, resolve_targets
from tests.helpers import free_port, make_user, wait_for
from tests.sshd import start_sshd

pytestmark = pytest.mark.django_db(transaction=True)

STUBBORN = "trap '' TERM; (trap '' TERM; sleep {child}) & echo started; sleep {parent}; wait"


@pytest.fixture(scope="module")
def other_sshd(tmp_path_factory):
    ssh = start_sshd(tmp_path_factory.mktemp("fleet-sshd"))
    yield ssh
    ssh.close()


def _fail_on(port: int) -> str:
    """A command that exits 3 on the server listening on `port`, 0 elsewhere."""
    return f'case "$SSH_CONNECTION" in *" {port}") echo bad >&2; exit 3;; esac; echo fine'


def _host_lines(job: Job, host: str, stream: str = "stdout") -> list[str]:
    return list(
        JobLogLine.objects.filter(job=job, host=host, stream=stream).order_by("seq").values_list("message", flat=True)
    )


def _remote_left(*patterns: str) -> str:
    out = subprocess.run(["pgrep", "-af", f"[s]leep ({'|'.join(patterns)})"], capture_output=True, text=True)
    return out.stdout.strip()


def test_targets_by_name_and_tag_every_line_kept_per_host(make_server, run_job):
    for name in ("web1", "web2"):
        make_server(name=name, tags=["web"])
    make_server(name="db1", tags=["db"])
    make_server(name="other")
    targets = resolve_targets(user=None, servers=["db1", "web1"], tags=["web"])
    assert [s.name for s in targets] == ["db1", "web1", "web2"]  # de-duplicated, sorted by name

    job = run_job(create_fleet_exec_job(servers=targets, command="seq 1 3000; echo oops >&2", enqueue=False))

    assert job.status == "succeeded" and job.exit_code == 0 and job.error == ""
    for name in ("db1", "web1", "web2"):
        assert _host_lines(job, name) == [str(i) for i in range(1, 3001)]
        assert _host_lines(job, name, "stderr") == ["oops"]
    # one seq order for the whole job: dense, no gap, no duplicate
    seqs = list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, job.last_seq + 1)) and job.line_count == len(seqs)
    result = job.result
    assert result["summary"] == {
        "ok": 3, "failed": 0, "unreachable": 0, "timed_out": 0, "cancelled": 0, "pending": 0, "running": 0, "total": 3,
    }  # fmt: skip
    for host in result["hosts"].values():
        assert host["status"] == "ok" and host["exit_code"] == 0 and host["duration_s"] > 0 and host["error"] == ""
    assert not JobLogLine.objects.filter(job=job, host="other").exists()


def test_failed_and_unreachable_hosts_are_each_reported(make_server, other_sshd, run_job, client):
    good = make_server(name="good")
    bad = make_server(name="bad", ssh=other_sshd)
    gone = make_server(name="gone", port=free_port())  # nothing listens there
    job = run_job(create_fleet_exec_job(servers=[bad, gone, good], command=_fail_on(other_sshd.port), enqueue=False))

    assert job.status == "failed" and job.exit_code == 3
    hosts = job.result["hosts"]
    assert hosts["good"]["status"] == "ok" and _host_lines(job, "good") == ["fine"]
    assert hosts["bad"] == {**hosts["bad"], "status": "failed", "exit_code": 3, "error": "exit code 3"}
    assert _host_lines(job, "bad", "stderr") == ["bad"]
    assert hosts["gone"]["status"] == "unreachable" and hosts["gone"]["exit_code"] is None and hosts["gone"]["error"]
    assert job.result["summary"]["ok"] == 1 and job.result["summary"]["failed"] == 1
    assert job.result["summary"]["unreachable"] == 1
    assert job.error.startswith("Failed on 2 servers: bad: exit code 3; gone: ")
    # the per-host verdicts are in the log too, tagged with their host
    assert JobLogLine.objects.filter(job=job, host="gone", stream="system", level="ERROR").exists()

    # the admin's job page shows the same per-host table, and both pages offer "Re-run"
    client.force_login(make_user("fleet-admin", is_staff=True))
    page = client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert '<tr data-host="gone" data-state="unreachable">' in page and "1 ok · 1 failed · 1 unreachable" in page
    assert f"/admin/jobs/job/{job.pk}/rerun/" in page
    page = client.get(f"/jobs/{job.job_id}/").content.decode()
    assert '<tr data-host="bad" data-state="failed">' in page and 'id="rerun-form"' in page
    # a re-run repeats the job on the same servers, with the same forks and success rule
    response = client.post(f"/jobs/{job.job_id}/rerun/")
    assert response.status_code == 302
    again = Job.objects.exclude(pk=job.pk).get()
    assert is_fleet(again) and again.params["rerun_of"] == job.job_id
    assert sorted(s.name for s in again.servers.all()) == ["bad", "gone", "good"]
    assert again.params["forks"] == job.params["forks"] and again.params["command"] == job.params["command"]


def test_succeed_if_any(make_server, other_sshd, run_job):
    good = make_server(name="good")
    bad = make_server(name="bad", ssh=other_sshd)
    job = run_job(
        create_fleet_exec_job(servers=[good, bad], command=_fail_on(other_sshd.port), success="any", enqueue=False)
    )
    assert job.status == "succeeded" and job.result["hosts"]["bad"]["status"] == "failed"
    assert job.result["success"] == "any"


def test_forks_bounds_the_connections_at_once(make_server, run_job):
    servers = [make_server(name=f"f{i}") for i in range(5)]
    command = "echo start $(date +%s%N); sleep 0.7; echo end $(date +%s%N)"
    job = run_job(create_fleet_exec_job(servers=servers, command=command, forks=2, enqueue=False))
    assert job.status == "succeeded"
    events = []
    for s in servers:
        start, end = (int(line.split()[1]) for line in _host_lines(job, s.name))
        events += [(start, 1), (end, -1)]
    running = peak = 0
    for _, delta in sorted(events):
        running += delta
        peak = max(peak, running)
    assert peak == 2  # never more than forks, and the fan-out did run in parallel


def test_cancel_kills_every_hosts_process_tree(make_server, other_sshd, run_job_in_thread):
    n = time.monotonic_ns() % 100000
    child, parent = f"4{n:05d}.1", f"4{n:05d}.2"
    servers = [make_server(name="c1"), make_server(name="c2"), make_server(name="c3", ssh=other_sshd)]
    job = create_fleet_exec_job(servers=servers, command=STUBBORN.format(child=child, parent=parent), enqueue=False)
    thread = run_job_in_thread(job)
    wait_for(
        lambda: JobLogLine.objects.filter(job=job, message="started").count() == 3,
        timeout=60,
        message="every host started",
    )
    sleeps = [line for line in _remote_left(child, parent).splitlines() if line.split()[1] == "sleep"]
    assert len(sleeps) == 6  # a parent and a child on each host
    request_cancel(job=job, requested_by="alice")
    thread.join(timeout=60)
    job.refresh_from_db()
    assert job.status == "cancelled" and job.error == "Cancelled by alice."
    assert _remote_left(child, parent) == "", "a process of the cancelled job is still running"
    assert {h["status"] for h in job.result["hosts"].values()} == {"cancelled"}
    for s in servers:  # each host's kill is in the log, under its name
        assert JobLogLine.objects.filter(job=job, host=s.name, message__contains="is gone").exists()


def test_timeout_kills_every_host_and_hosts_never_started_say_so(make_server, run_job):
    n = time.monotonic_ns() % 100000
    child, parent = f"5{n:05d}.1", f"5{n:05d}.2"
    servers = [make_server(name=f"t{i}") for i in range(3)]
    job = run_job(
        create_fleet_exec_job(
            servers=servers, command=STUBBORN.format(child=child, parent=parent), timeout=3, forks=2, enqueue=False
        )
    )
    assert job.status == "timed_out"
    assert _remote_left(child, parent) == ""
    hosts = job.result["hosts"]
    assert [hosts[f"t{i}"]["status"] for i in range(3)] == ["timed_out"] * 3
    assert hosts["t2"]["error"] == "timed out before it started" and hosts["t2"]["exit_code"] is None
    assert job.error.startswith("Timed out after 3 s on 3 servers: t0: timed out after 3 s")


def test_api_exec_and_the_host_filter(make_server, run_job, client):
    make_server(name="api1", tags=["api"])
    make_server(name="api2", tags=["api"])
    client.force_login(make_user("fleetop", role="Operators"))
    response = client.post(
        "/api/exec",
        json.dumps({"command": "echo from-$((1+1))", "tags": ["api"], "forks": 1, "timeout": 60}),
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    job = Job.objects.get(job_id=body["job_id"])
    assert body["urls"]["page"] == f"/jobs/{job.job_id}/"
    assert sorted(job.servers.values_list("name", flat=True)) == ["api1", "api2"]
    assert job.params["forks"] == 1 and job.params["targets"] == {"servers": [], "tags": ["api"]}
    job = run_job(job)
    assert job.status == "succeeded"

    logs = client.get(f"/api/jobs/{job.job_id}/logs", {"host": "api2"}).json()
    assert logs["count"] >= 2 and {line["host"] for line in logs["lines"]} == {"api2"}
    assert "from-2" in [line["message"] for line in logs["lines"] if line["stream"] == "stdout"]
    searched = client.get(f"/api/jobs/{job.job_id}/logs", {"host": "api1", "q": "from-"}).json()
    assert [(line["host"], line["message"]) for line in searched["lines"]] == [("api1", "from-2")]
    detail = client.get(f"/api/jobs/{job.job_id}").json()
    assert detail["result"]["summary"]["ok"] == 2 and detail["servers"] == ["api1", "api2"]


def test_cli_follow_prefixes_hosts_and_fails_when_a_host_failed(make_server, other_sshd, qcluster, subprocess_env):
    make_server(name="cli-a", tags=["cli"])
    make_server(name="cli-b", tags=["cli"], ssh=other_sshd)
    proc = subprocess.run(
        [sys.executable, "manage.py", "remote_exec", "--tag", "cli", "--forks", "2", "--follow",
         _fail_on(other_sshd.port)],
        cwd=settings.BASE_DIR, env=subprocess_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.splitlines() == ["cli-a | fine"]
    assert "cli-b | bad" in proc.stderr.splitlines()
    assert "Failed on cli-b: exit code 3" in proc.stderr

    ok = subprocess.run(
        [sys.executable, "manage.py", "remote_exec", "--tag", "cli", "--succeed-if-any", "--follow",
         _fail_on(other_sshd.port)],
        cwd=settings.BASE_DIR, env=subprocess_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr


def test_cli_positional_form_still_works(server, capsys):
    call_command("remote_exec", server.name, "echo", "still-inline")
    assert capsys.readouterr().out == "still-inline\n"
    job = Job.objects.get(inline=True)
    assert "forks" not in job.params and job.status == "succeeded"


def test_run_on_page_refuses_bad_targets_with_reasons(client, make_server):
    from html import unescape

    make_server(name="pw1", tags=["pw"])
    client.force_login(make_user("viewer-only", role="Viewers"))
    assert client.get("/jobs/run/").status_code == 403
    client.force_login(make_user("pageop", role="Operators"))
    page = client.get("/jobs/run/").content.decode()
    assert '<option value="pw">pw</option>' in page and '<option value="pw1">pw1</option>' in page
    for form, reason in [
        ({"command": "true"}, "Choose at least one server or tag."),
        ({"command": "true", "servers": ["nope"]}, "Unknown or not permitted server 'nope'."),
        ({"command": "true", "tags": ["nosuch"]}, "No server you may use has the tag 'nosuch'"),
        ({"command": "true", "tags": ["pw"], "forks": "0"}, "Ensure this value is greater than or equal to 1."),
    ]:
        response = client.post("/jobs/run/", form)
        assert response.status_code == 400 and reason in unescape(response.content.decode()), reason
    assert not Job.objects.exists()
    response = client.post("/jobs/run/", {"command": "true", "tags": ["pw"], "succeed_if_any": "on"})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.job_id}/"
    assert job.params["success"] == "any" and list(job.servers.values_list("name", flat=True)) == ["pw1"]
