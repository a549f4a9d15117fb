"""The MCP server through the SDK's in-memory client: tool contracts, cursors, budgets, progress,
permissions and bad input. Jobs that run for real go to the test sshd through a real qcluster."""

from __future__ import annotations

import asyncio
import subprocess
import time

import anyio
import pytest
from django.contrib.auth.models import Group
from mcp.client.client import Client

from jobs.models import Job
from livchat.mcp.server import build_server
from tests.helpers import make_user, wait_for, wait_running_with_line
from tests.mcp_helpers import Progress, call, finished_job, size, text

pytestmark = pytest.mark.django_db(transaction=True)

READS = {
    "list_servers", "list_playbooks", "list_jobs", "get_job", "wait_job", "search_job_log", "get_playbook_recap",
    "list_templates", "check_policy", "search_logs", "diff_job",
}  # fmt: skip
WRITES = {"run_command", "run_playbook", "cancel_job", "remote-bash", "launch_template"}


def _numbered(n: int, width: int = 60) -> list[tuple[str, str, str]]:
    return [("stdout", "INFO", f"line {i:06d} " + "x" * width) for i in range(1, n + 1)]


def test_every_tool_has_an_output_schema_and_the_right_hints(staff_user):
    async def go():
        async with Client(build_server(user=staff_user)) as client:
            return (await client.list_tools()).tools

    tools = {t.name: t for t in asyncio.run(go())}
    assert READS | WRITES | {"get-job-status"} == set(tools)
    for name, tool in tools.items():
        assert tool.output_schema and tool.output_schema.get("properties"), name
    for name in READS:
        assert tools[name].annotations.read_only_hint is True, name
    for name in WRITES:
        assert tools[name].annotations.destructive_hint is True and not tools[name].annotations.read_only_hint, name
    assert set(tools["get_job"].output_schema["properties"]) >= {
        "job_id", "status", "exit_code", "error", "current_step", "progress", "lines", "next_seq",
        "has_more", "omitted", "truncated", "summary", "recap",
    }  # fmt: skip


def test_get_job_tail_cursor_filters_and_summary(staff_user):
    rows = _numbered(30, width=5) + [("stderr", "INFO", "\x1b[31mboom\x1b[0m failed"), ("system", "ERROR", "gave up")]
    job = finished_job(rows)

    tail = call(staff_user, "get_job", {"job_id": job.job_id, "tail": 5})
    page = tail.structured_content
    assert not tail.is_error
    assert [line["seq"] for line in page["lines"]] == [28, 29, 30, 31, 32]
    assert page["lines"][-2] == {"seq": 31, "stream": "stderr", "level": "INFO", "text": "boom failed"}  # no ANSI
    assert page["has_more"] is True and page["next_seq"] == 32 and page["omitted"] == 0
    assert page["summary"] == {
        "total_lines": 32, "error_lines": 1, "warning_lines": 0, "stderr_lines": 1,
        "duration_s": page["summary"]["duration_s"],
    }  # fmt: skip
    assert "32 lines (1 at ERROR, 0 at WARNING, 1 on stderr)" in text(tail) and "\x1b" not in text(tail)

    forward = call(staff_user, "get_job", {"job_id": job.job_id, "after_seq": 10, "tail": 3}).structured_content
    assert [line["seq"] for line in forward["lines"]] == [11, 12, 13]
    assert forward["has_more"] is True and forward["next_seq"] == 13
    rest = call(staff_user, "get_job", {"job_id": job.job_id, "after_seq": 30, "tail": 10}).structured_content
    assert [line["seq"] for line in rest["lines"]] == [31, 32] and rest["has_more"] is False

    errors = call(staff_user, "get_job", {"job_id": job.job_id, "level": "ERROR"}).structured_content
    assert [line["text"] for line in errors["lines"]] == ["gave up"]
    stderr = call(staff_user, "get_job", {"job_id": job.job_id, "stream": "stderr"}).structured_content
    assert [line["seq"] for line in stderr["lines"]] == [31]
    grep = call(staff_user, "get_job", {"job_id": job.job_id, "grep": r"line 00001\d"}).structured_content
    assert [line["seq"] for line in grep["lines"]] == list(range(10, 20))


def test_a_big_page_keeps_head_and_tail_within_max_bytes(staff_user):
    job = finished_job(_numbered(3000))
    result = call(staff_user, "get_job", {"job_id": job.job_id, "tail": 3000, "max_bytes": 6000})
    page = result.structured_content
    seqs = [line["seq"] for line in page["lines"]]
    assert size(result) <= 6000
    assert seqs[-1] == 3000 and seqs[0] == 1, "the head and the tail are both kept"
    assert page["omitted"] == 3000 - len(seqs) and page["omitted"] > 2000
    gap_from, gap_to = page["omitted_from_seq"], page["omitted_to_seq"]
    assert gap_to - gap_from + 1 == page["omitted"] and seqs == sorted(seqs)
    assert f"after_seq={gap_from - 1}" in page["hint"] and "search_job_log" in page["hint"]

    bulk = {"job_id": job.job_id, "after_seq": 100, "max_bytes": 5000, "lines": True}
    waited = call(staff_user, "wait_job", bulk)
    page = waited.structured_content
    seqs = [line["seq"] for line in page["lines"]]
    assert size(waited) <= 5000
    assert seqs[0] == 101 and seqs[-1] == 3000 and page["next_seq"] == 3000 and page["status"] == "succeeded"
    assert page["omitted"] == 2900 - len(seqs)


def test_wait_job_is_compact_by_default_and_tail_asks_for_more(staff_user):
    rows = _numbered(3000) + [("stderr", "INFO", "E: disk /srv is full")] + _numbered(3, width=4)
    job = finished_job(rows)
    waited = call(staff_user, "wait_job", {"job_id": job.job_id, "after_seq": 100})
    page = waited.structured_content
    assert [line["seq"] for line in page["lines"]] == [3000, 3001, 3002, 3003, 3004]
    assert page["omitted"] == 2899 and (page["omitted_from_seq"], page["omitted_to_seq"]) == (101, 2999)
    assert [(p["seq"], p["stream"], p["text"]) for p in page["problems"]] == [(3001, "stderr", "E: disk /srv is full")]
    assert page["problem_count"] == 1 and page["next_seq"] == 3004
    assert "after_seq=100" in page["hint"], page["hint"]
    assert "E: disk /srv is full" in text(waited) and "line 0002999" not in text(waited), "lines live in the JSON"
    assert size(waited) < 2000, size(waited)
    later = call(staff_user, "wait_job", {"job_id": job.job_id, "after_seq": 3001}).structured_content
    assert later["problems"] == [] and later["problem_count"] == 0, "a succeeded job: only problems since the cursor"
    more = call(staff_user, "wait_job", {"job_id": job.job_id, "after_seq": 100, "tail": 50}).structured_content
    assert [line["seq"] for line in more["lines"]] == list(range(2955, 3005))


def test_long_lines_are_cut_and_said_so(staff_user):
    job = finished_job([("stdout", "INFO", "y" * 20000)])
    page = call(staff_user, "get_job", {"job_id": job.job_id, "max_bytes": 4000}).structured_content
    assert page["truncated"] is True and page["lines"][0]["cut"] is True
    assert len(page["lines"][0]["text"]) <= 1000 and "larger max_bytes" in page["hint"]


def test_search_with_context_and_more(staff_user):
    job = finished_job(_numbered(50, width=3))
    result = call(
        staff_user,
        "search_job_log",
        {"job_id": job.job_id, "pattern": r"line 0000[13]\d", "context_lines": 1, "max_matches": 3},
    )
    data = result.structured_content
    assert [m["seq"] for m in data["matches"]] == [10, 11, 12]
    assert [x["seq"] for x in data["matches"][0]["before"]] == [9] and [
        x["seq"] for x in data["matches"][0]["after"]
    ] == [11]
    assert data["has_more"] is True and data["next_seq"] == 12
    more = call(staff_user, "search_job_log", {"job_id": job.job_id, "pattern": r"line 0000[13]\d", "after_seq": 12})
    assert [m["seq"] for m in more.structured_content["matches"]][:2] == [13, 14]
    assert more.structured_content["matches"][-1]["seq"] == 39 and more.structured_content["has_more"] is False


def test_recap_of_a_playbook_job_and_refusal_for_a_command(staff_user):
    hosts = {"web1": {"ok": 3, "changed": 1, "failed": 1, "unreachable": 0, "skipped": 0, "rescued": 0, "ignored": 0}}
    job = Job.objects.create(
        job_id="playbook-0000beef",
        job_type="playbook",
        status="failed",
        params={"playbook": "ping.yml"},
        result={"playbook": "ping.yml", "hosts": hosts, "failures": ["web1: install nginx: No package matching"]},
    )
    data = call(staff_user, "get_playbook_recap", {"job_id": job.job_id}).structured_content
    assert data["recap"]["hosts"]["web1"]["failed"] == 1 and data["recap"]["hosts"]["web1"]["changed"] == 1
    assert data["recap"]["failed_tasks"] == [
        {"host": "web1", "task": "install nginx", "message": "No package matching", "stderr": ""}
    ]  # a job stored before failed_tasks: its "host: task: message" strings
    command = finished_job([("stdout", "INFO", "hi")])
    refused = call(staff_user, "get_playbook_recap", {"job_id": command.job_id})
    assert refused.is_error and "only playbook jobs have a recap" in text(refused)


def test_resources_give_the_job_and_its_log(staff_user):
    job = finished_job([("stdout", "INFO", "hello"), ("stderr", "INFO", "\x1b[1mworld\x1b[0m")])

    async def go():
        async with Client(build_server(user=staff_user)) as client:
            page = await client.read_resource(f"job://{job.job_id}")
            log = await client.read_resource(f"job://{job.job_id}/log")
            return page.contents[0].text, log.contents[0].text

    page, log = asyncio.run(go())
    assert '"status": "succeeded"' in page and '"text": "hello"' in page
    assert log.endswith("1 INFO stdout: hello\n2 INFO stderr: world\n")


# ---- permissions --------------------------------------------------------------------------------
def test_read_scope_and_viewers_may_not_run(server):
    operator = make_user("opal", role="Operators")
    viewer = make_user("vera", role="Viewers")
    args = {"server": server.name, "command": "true"}
    refused = call(operator, "run_command", args, scope="read")
    assert refused.is_error and "'read' scope" in text(refused)
    refused = call(viewer, "run_command", args)
    assert refused.is_error and "needs the Operators role" in text(refused)
    assert call(viewer, "list_servers").structured_content["servers"][0]["name"] == server.name
    assert not Job.objects.exists(), "a refused run creates no job"
    job = finished_job([("stdout", "INFO", "x")])
    Job.objects.filter(pk=job.pk).update(status="running")
    refused = call(operator, "cancel_job", {"job_id": job.job_id}, scope="read")
    assert refused.is_error and "may not cancel jobs" in text(refused)


def test_a_server_of_other_groups_is_unknown_or_not_permitted(make_server):
    limited = make_server("secret-box")
    limited.allowed_groups.add(Group.objects.create(name="dbas"))
    make_server("open-box")
    operator = make_user("opal", role="Operators")
    refused = call(operator, "run_command", {"server": "secret-box", "command": "true"})
    assert refused.is_error and "Unknown or not permitted server 'secret-box'" in text(refused)
    assert "open-box" in text(refused) and "secret-box." not in text(refused).split("use:")[1]
    assert [s["name"] for s in call(operator, "list_servers").structured_content["servers"]] == ["open-box"]
    job = finished_job([("stdout", "INFO", "x")], server=limited)
    hidden = call(operator, "get_job", {"job_id": job.job_id})
    assert hidden.is_error and "Unknown or not permitted job" in text(hidden)
    assert call(operator, "list_jobs").structured_content["jobs"] == []


# ---- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tool", "arguments", "says"),
    [
        ("get_job", {"job_id": "remote_exec-ffffffff"}, "Unknown or not permitted job"),
        ("get_job", {"job_id": "../../etc/passwd"}, "Unknown or not permitted job"),
        ("get_job", {"job_id": "JOB", "tail": 10001}, "less than or equal to 10000"),
        ("get_job", {"job_id": "JOB", "tail": "many"}, "tail"),
        ("get_job", {"job_id": "JOB", "grep": "(unclosed"}, "Not a valid regular expression"),
        ("get_job", {"job_id": "JOB", "level": "LOUD"}, "level must be one of"),
        ("search_job_log", {"job_id": "JOB", "pattern": "[z-a]"}, "Not a valid regular expression"),
        ("run_command", {"server": "nope", "command": "true"}, "Unknown or not permitted server 'nope'"),
        ("run_command", {"server": "test", "command": 42}, "command"),
        ("run_command", {"server": "test"}, "command"),
        ("run_command", {"server": "test", "command": "true", "timeout_s": 0}, "timeout_s"),
        ("run_command", {"server": "test", "command": "a\x00b"}, "NUL"),
        ("run_playbook", {"playbook": "../x.yml", "servers": ["test"]}, "Invalid playbook name"),
        ("get_job", {"job_id": "JOB", "bogus": 1}, "Unknown argument(s) for get_job: bogus"),
        ("wait_job", {"job_id": "JOB", "timeout_s": -1}, "timeout_s"),
    ],
)
def test_bad_input_is_a_clear_tool_error(server, tool, arguments, says):
    user = make_user("staff2")
    job = finished_job([("stdout", "INFO", "x")])
    arguments = {k: (job.job_id if v == "JOB" else v) for k, v in arguments.items()}
    result = call(user, tool, arguments)
    assert result.is_error and says in text(result), text(result)
    assert "Traceback" not in text(result)


# ---- real jobs over SSH ---------------------------------------------------------------------------
def test_run_command_inline_result_with_progress(server, qcluster, staff_user):
    progress = Progress()
    command = "for i in 1 2 3 4; do echo step$i; sleep 0.4; done; echo 'it broke' >&2; exit 3"
    result = call(
        staff_user, "run_command", {"server": server.name, "command": command, "wait_s": 60}, progress=progress
    )
    page = result.structured_content
    assert page["status"] == "failed" and page["exit_code"] == 3, page
    assert [(x["stream"], x["text"]) for x in page["lines"] if x["stream"] != "system"][-1] == ("stderr", "it broke")
    assert page["summary"]["stderr_lines"] == 1 and "exit code 3" in text(result)
    assert any(m.startswith("step") for m in progress.messages), progress.messages
    times = [t for t, _, _ in progress.seen]
    assert all(b - a >= 0.45 for a, b in zip(times, times[1:], strict=False)), "at most 2 progress a second"
    values = [p for _, p, _ in progress.seen]
    assert values == sorted(values)
    assert Job.objects.get(job_id=page["job_id"]).created_by == staff_user


def test_a_long_command_returns_running_then_wait_job_follows_it(server, qcluster, staff_user):
    command = "echo begin; sleep 2; echo end"
    first = call(staff_user, "run_command", {"server": server.name, "command": command, "wait_s": 0.2})
    page = first.structured_content
    assert page["status"] in ("pending", "running") and "wait_job" in page["hint"]
    progress = Progress()
    done = call(
        staff_user,
        "wait_job",
        {"job_id": page["job_id"], "after_seq": page["next_seq"], "timeout_s": 60},
        progress=progress,
    ).structured_content
    assert done["status"] == "succeeded" and done["exit_code"] == 0
    assert "end" in [x["text"] for x in done["lines"]] and done["next_seq"] >= max(x["seq"] for x in done["lines"])
    assert "end" in progress.messages or "begin" in progress.messages


def test_cancelled_wait_job_leaves_the_job_running_and_cancel_job_kills_it(server, qcluster, staff_user):
    marker = f"{time.monotonic_ns() % 100000:05d}"
    command = f"echo started; sleep 3{marker}.7; echo never"
    job_id = call(
        staff_user, "run_command", {"server": server.name, "command": command, "wait_s": 0}
    ).structured_content["job_id"]
    job = Job.objects.get(job_id=job_id)
    wait_running_with_line(job, "started")

    async def wait_then_give_up():
        async with Client(build_server(user=staff_user)) as client:
            with anyio.move_on_after(1.0) as scope:
                await client.call_tool("wait_job", {"job_id": job_id, "timeout_s": 60})
            return scope.cancelled_caught

    assert asyncio.run(wait_then_give_up()) is True
    job.refresh_from_db()
    assert job.status == "running" and job.cancel_requested_at is None, "cancelling wait_job never stops the job"

    def remote() -> str:
        found = subprocess.run(["pgrep", "-af", f"[s]leep 3{marker}.7"], capture_output=True, text=True)
        return found.stdout.strip()

    assert remote()
    result = call(staff_user, "cancel_job", {"job_id": job_id})
    assert result.structured_content["status"] == "cancelled", text(result)
    wait_for(lambda: remote() == "", timeout=10, message="the remote sleep to be gone")
    again = call(staff_user, "cancel_job", {"job_id": job_id})
    assert again.is_error and "already finished" in text(again)


def test_run_playbook_answers_with_the_recap(server, qcluster, staff_user):
    result = call(staff_user, "run_playbook", {"playbook": "ping.yml", "servers": [server.name], "wait_s": 120})
    page = result.structured_content
    assert page["status"] == "succeeded", text(result)
    assert page["recap"]["hosts"][server.name]["ok"] == 1 and page["recap"]["failed_tasks"] == []
    assert f"recap: {server.name} ok=1" in text(result)
    recap = call(staff_user, "get_playbook_recap", {"job_id": page["job_id"]}).structured_content
    assert recap["playbook"] == "ping.yml" and recap["recap"]["hosts"][server.name]["failed"] == 0


def test_the_aliases_of_the_original_clients(server, staff_user):
    job = finished_job([("stdout", "INFO", f"l{i}") for i in range(1, 6)])
    status = call(staff_user, "get-job-status", {"job_id": job.job_id, "tail_logs": 2}).structured_content
    assert status["status"] == "succeeded" and [x["text"] for x in status["lines"]] == ["l4", "l5"]
    queued = call(staff_user, "remote-bash", {"server_name": server.name, "command": "uptime", "use_job": True})
    page = queued.structured_content
    assert page["status"] == "pending" and "wait_job" in page["hint"]
    created = Job.objects.get(job_id=page["job_id"])
    assert created.params["command"] == "uptime" and created.timeout == 60


def test_every_answer_about_a_job_that_went_wrong_says_why(staff_user):
    rows = [("stdout", "INFO", f"row {i}") for i in range(1, 2001)] + [("stderr", "INFO", "E: disk /srv is full")]
    job = finished_job(rows + [("system", "ERROR", "Timed out after 5 s.")])
    Job.objects.filter(pk=job.pk).update(status="timed_out", exit_code=None, error="Timed out after 5 s.")
    answers = {
        "get_job": call(staff_user, "get_job", {"job_id": job.job_id, "tail": 1}),
        "get-job-status": call(staff_user, "get-job-status", {"job_id": job.job_id, "tail_logs": 0}),
        "wait_job": call(staff_user, "wait_job", {"job_id": job.job_id, "after_seq": 2002}),
        "cancel_job": call(staff_user, "cancel_job", {"job_id": job.job_id}),  # refused: it is over
    }
    for name in ("get_job", "get-job-status", "wait_job"):
        result = answers[name]
        page = result.structured_content
        assert page["error"] == "Timed out after 5 s." and page["problem_count"] == 2, name
        assert [p["text"] for p in page["problems"]] == ["E: disk /srv is full", "Timed out after 5 s."], name
        assert "E: disk /srv is full" in text(result) and "row 2000" not in text(result), name
        assert size(result) < 2500, (name, size(result))
    assert answers["cancel_job"].is_error and "already finished" in text(answers["cancel_job"])

    succeeded = finished_job([("stderr", "INFO", "progress on stderr")], job_id="remote_exec-0000beef")
    page = call(staff_user, "get_job", {"job_id": succeeded.job_id}).structured_content
    assert page["problems"] == [] and page["problem_count"] == 0, "a job that succeeded needs no reason"
    only = call(staff_user, "get_job", {"job_id": job.job_id, "problems": True}).structured_content
    assert [line["seq"] for line in only["lines"]] == [2001, 2002] and only["problems"] == []


def test_waiting_for_the_end_glances_at_the_job_instead_of_reading_its_lines(staff_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from livchat.mcp.tools import Follower

    job = finished_job(_numbered(3000, width=4))
    follower = Follower(None, job, 100)  # no context: a glance sends nothing
    with CaptureQueriesContext(connection) as queries:
        follower._round()
    assert len(queries) == 2, [q["sql"] for q in queries]  # the state, then the newest line
    assert (follower.cursor, follower.done, follower.latest) == (3000, True, "line 003000 xxxx")
    counting = Follower(None, job, 100, counting=True)  # wait_job(lines=true) counts what came
    counting._round()
    assert counting.cursor == 3000 and counting.new_bytes > 2900 * len("line 003000 xxxx")
