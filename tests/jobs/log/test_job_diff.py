"""Diff a run against another (jobs/log/diff.py, GET /api/jobs/<id>/diff, `job_diff`): what
always differs is normalised away, many-server jobs compare host by host, `previous` finds the
last run of the same template or command, answers are bounded with a cursor, and bad input is
a clear 4xx / exit 2."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs.log import diff
from servers.models import Server
from tests.api_helpers import assert_error, token_api
from tests.helpers import make_user, stored_job

pytestmark = pytest.mark.django_db(transaction=True)


def _run(servers, lines, *, command="deploy.sh", template=None, host_lines=None):
    params = {"command": command, **({"template": {"name": template, "id": 1, "values": {}}} if template else {})}
    return stored_job(servers, lines, params=params, host_lines=host_lines)


@pytest.fixture
def web():
    return Server.objects.create(name="web1", host="127.0.0.1", username="u")


def test_what_always_differs_is_normalised():
    assert diff.normalise("at 2026-12-07T10:00:01.5Z took 1.25s pid=4242 id 1a2b3c4d5e") == (
        "at <timestamp> took <duration> <pid> id <hex>"
    )
    assert diff.normalise("req 123e4567-e89b-12d3-a456-426614174000 at 10:00:01") == "req <uuid> at <time>"


def test_the_changes_with_both_sides_seqs_and_nothing_for_what_always_differs(web):
    old = _run([web], ["start 2026-12-01 03:00:00", "pkg a 1.0", "pkg b 2.0", "done in 3.2s", "bye"])
    new = _run([web], ["start 2026-12-02 03:00:00", "pkg a 1.0", "pkg b 2.1", "pkg c 1.0", "done in 4.9s", "bye"])
    data = diff.diff_jobs(job=new, against=old)
    assert data["summary"] == {"added": 2, "removed": 1, "unchanged": 4} and not data["same"]
    (hunk,) = data["hunks"]
    assert hunk["removed"] == {"count": 1, "from_seq": 3, "lines": [{"seq": 3, "text": "pkg b 2.0"}]}
    assert [line["seq"] for line in hunk["added"]["lines"]] == [3, 4]
    assert diff.diff_jobs(
        job=_run([web], ["start 2026-12-09 03:00:00", "pkg a 1.0"]),
        against=_run([web], ["start 2026-12-08 04:00:00", "pkg a 1.0"]),
    )["same"]


def test_many_server_jobs_compare_host_by_host(web):
    db = Server.objects.create(name="db1", host="127.0.0.1", username="u")
    old = _run([web, db], [], host_lines={"web1": ["ok", "nginx 1.24"], "db1": ["ok", "pg 15"]})
    new = _run([web, db], [], host_lines={"web1": ["ok", "nginx 1.26"], "db1": ["ok", "pg 15"]})
    data = diff.diff_jobs(job=new, against=old)
    assert data["hosts"] == {
        "db1": {"added": 0, "removed": 0, "unchanged": 2},
        "web1": {"added": 1, "removed": 1, "unchanged": 1},
    }
    assert [h["host"] for h in data["hunks"]] == ["web1"]


def test_previous_is_the_last_run_of_the_same_template_or_command(web):
    other = Server.objects.create(name="web2", host="127.0.0.1", username="u")
    first = _run([web], ["a"], template="nightly")
    _run([web], ["a"], command="other.sh")
    _run([other], ["a"], command="deploy.sh")  # same command, other servers
    plain = _run([web], ["a"], command="deploy.sh")
    second = _run([web], ["b"], template="nightly")
    third = _run([web], ["c"], command="deploy.sh")
    assert diff.previous_run(second).pk == first.pk
    assert diff.previous_run(third).pk == plain.pk
    with pytest.raises(diff.NoPrevious, match="no earlier finished run of template 'nightly'"):
        diff.previous_run(first)


def test_answers_are_bounded_with_a_cursor(web, monkeypatch):
    monkeypatch.setattr(diff, "MAX_HUNKS", 3)
    old = _run([web], [f"line {i}" for i in range(40)])
    new = _run([web], [f"line {i}" if i % 5 else f"changed {i}" for i in range(40)])
    first = diff.diff_jobs(job=new, against=old)
    assert first["hunk_count"] == 8 and len(first["hunks"]) == 3 and first["cursor"]
    seen = first["hunks"]
    cursor = first["cursor"]
    while cursor:
        page = diff.diff_jobs(job=new, against=old, cursor=cursor)
        seen += page["hunks"]
        cursor = page["cursor"]
    assert [h["added"]["from_seq"] for h in seen] == [1, 6, 11, 16, 21, 26, 31, 36]


def test_two_runs_that_share_nothing_answer_at_once(web):
    old = _run([web], [f"old {i} " + "x" * (i % 7) for i in range(5000)])
    new = _run([web], [f"new {i} " + "y" * (i % 5) for i in range(5000)])
    data = diff.diff_jobs(job=new, against=old)
    assert data["summary"] == {"added": 5000, "removed": 5000, "unchanged": 0}


def test_the_api_and_its_bad_input(web):
    api = token_api(make_user("op", role="Operators"))
    old = _run([web], ["a", "b"])
    new = _run([web], ["a", "c"])
    answer = api.get(f"/api/jobs/{new.job_id}/diff", {"against": "previous"})
    assert answer.status_code == 200, answer.content
    assert answer.json()["against"] == old.job_id and answer.json()["summary"]["added"] == 1
    assert "same run" in assert_error(api.get(f"/api/jobs/{new.job_id}/diff", {"against": new.job_id}), 400)
    assert "No job with id" in assert_error(
        api.get(f"/api/jobs/{new.job_id}/diff", {"against": "remote_exec-deadbeef"}), 404
    )
    assert "No job with id" in assert_error(api.get("/api/jobs/remote_exec-deadbeef/diff"), 404)
    assert "no earlier finished run" in assert_error(api.get(f"/api/jobs/{old.job_id}/diff"), 404)
    bad = api.get(f"/api/jobs/{new.job_id}/diff", {"against": old.job_id, "cursor": "nope"})
    assert "cursor is not one this diff gave" in assert_error(bad, 400)


def test_the_command_exits_like_diff(web, capsys):
    old = _run([web], ["a", "b"])
    new = _run([web], ["a", "c"])
    with pytest.raises(CommandError) as differ:
        call_command("job_diff", new.job_id, old.job_id)
    assert differ.value.returncode == 1
    out = capsys.readouterr().out
    assert "1 added, 1 removed, 1 unchanged" in out and "-      2 b" in out and "+      2 c" in out
    same = _run([web], ["a", "c"])
    call_command("job_diff", same.job_id, new.job_id)  # exit 0: nothing raised
    with pytest.raises(CommandError) as bad:
        call_command("job_diff", old.job_id)
    assert bad.value.returncode == 2 and "no earlier finished run" in str(bad.value)
