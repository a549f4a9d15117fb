"""EventMapper: ansible-runner events → stored lines (level, host, task, event), the running
task, progress, failures and the recap. Fed real events (ansible_events.json)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import NamedTuple

import pytest

from jobs.log.lines import MAX_LINE_BYTES
from jobs.runners.playbook.events import (
    FIELD_MAX,
    MAX_DETAIL_LINES,
    MAX_FAILURES_KEPT,
    EventMapper,
    empty_recap,
    recap_from_stats,
)

EVENTS = json.loads((Path(__file__).parent / "ansible_events.json").read_text())
RUN = EVENTS["two_hosts_ok_skipped_failed_unreachable"]
DETAILS = EVENTS["command_details"]


class Row(NamedTuple):
    level: str
    host: str
    task: str
    event: str
    message: str
    stream: str = "stdout"


class RecordingSink:
    """Stands in for JobSink: keeps what the mapper writes, in order."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def write_lines(self, stream, messages, *, level="INFO", host="", task="", event="", **_):
        assert stream in ("stdout", "stderr")
        self.rows += [Row(level, host, task, event, m, stream) for m in messages]


def mapped(events: list[dict], **kw) -> tuple[EventMapper, list[Row]]:
    sink = RecordingSink()
    mapper = EventMapper(sink=sink, **kw)
    for event in events:
        assert mapper(copy.deepcopy(event)) is False  # never asks the runner to keep a JSON file
    return mapper, sink.rows


def one(name: str, *, task: str = "") -> dict:
    (event,) = [e for e in RUN if e["event"] == name and (not task or e["event_data"].get("task") == task)]
    return event


# ---- one event at a time -------------------------------------------------------------------------
def test_runner_on_ok_is_an_info_line_with_host_and_task_then_its_stdout_at_debug():
    _, rows = mapped([one("runner_on_ok")])
    assert rows == [
        Row("INFO", "web1", "say hello", "runner_on_ok", "changed: [web1]"),
        Row("DEBUG", "web1", "say hello", "runner_on_ok", "hello"),  # what `echo hello` printed
    ]


def test_runner_on_skipped_is_an_info_line_with_host_and_task():
    _, rows = mapped([one("runner_on_skipped")])
    assert rows == [Row("INFO", "web1", "skip me", "runner_on_skipped", "skipping: [web1]")]


def test_runner_on_failed_is_error_lines_and_one_failure():
    mapper, rows = mapped([one("runner_on_failed")])
    assert [r.message for r in rows] == [
        "[ERROR]: Task failed: Action failed: boom went the task",
        "Origin: /srv/playbooks/pb.yml:9:7",
        "7       ansible.builtin.debug: msg=x",
        "8       when: false",
        "9     - name: fail here",
        "        ^ column 7",
        'fatal: [web1]: FAILED! => {"changed": false, "msg": "boom went the task"}',
        "boom went the task",  # the result's msg, as a line of its own
    ]  # blank lines dropped, \r\n endings gone
    assert {(r.level, r.host, r.task, r.event) for r in rows} == {("ERROR", "web1", "fail here", "runner_on_failed")}
    assert mapper.failures == ["web1: fail here: boom went the task"]


def test_runner_on_unreachable_is_error_lines_and_one_failure():
    mapper, rows = mapped([one("runner_on_unreachable")])
    assert {(r.level, r.host, r.task) for r in rows} == {("ERROR", "db9", "say hello")}
    assert rows[-2].message.startswith("fatal: [db9]: UNREACHABLE!")
    assert rows[-1].message.startswith("Task failed: Failed to connect to the host via ssh")  # msg
    assert mapper.failures == [
        "db9: say hello: Task failed: Failed to connect to the host via ssh: "
        "ssh: connect to host 127.0.0.1 port 1: Connection refused"
    ]


def test_an_ignored_failure_is_a_warning_and_no_failure():
    mapper, rows = mapped([EVENTS["ignored_failure"]])
    assert {r.level for r in rows[:-1]} == {"WARNING"}
    assert rows[-2] == Row("WARNING", "web1", "ignore this failure", "runner_on_failed", "...ignoring")
    # Not a failure of the job: its message is a detail, not an ERROR.
    assert rows[-1] == Row("DEBUG", "web1", "ignore this failure", "runner_on_failed", "ignored boom")
    assert mapper.failures == []


def test_a_result_with_warnings_is_a_warning_line():
    event = copy.deepcopy(one("runner_on_ok"))
    event["event_data"]["res"]["warnings"] = ["Consider using the file module"]
    _, rows = mapped([event])
    assert [r.level for r in rows] == ["WARNING", "DEBUG"]  # the summary warns; the stdout is a detail


def test_task_start_sets_the_running_task_and_progress():
    starts = [e for e in RUN if e["event"] == "playbook_on_task_start"]
    sink = RecordingSink()
    mapper = EventMapper(sink=sink, tasks_expected=4)
    seen = []
    for event in starts:
        mapper(event)
        seen.append((mapper.current_task, mapper.progress))
    assert seen == [("say hello", 0), ("skip me", 25), ("fail here", 50)]
    assert sink.rows[0] == Row(
        "INFO", "", "say hello", "playbook_on_task_start", "TASK [say hello] " + "*" * 63
    )  # the leading blank line is dropped


def test_progress_grows_its_total_when_more_tasks_start_than_counted_and_stays_below_100():
    mapper = EventMapper(sink=RecordingSink(), tasks_expected=1)
    assert mapper.progress == 0
    for n in range(1, 6):
        mapper({"event": "playbook_on_task_start", "stdout": "", "event_data": {"task": f"t{n}"}})
    assert mapper.tasks_started == 5 and mapper.progress == 80  # 4 done of 5 known
    assert EventMapper(sink=RecordingSink()).progress == 0  # nothing known yet


def test_playbook_on_stats_gives_the_recap_and_recap_lines_by_host():
    mapper, rows = mapped([one("playbook_on_stats")])
    assert mapper.recap == {
        "db9": {**empty_recap(), "unreachable": 1},
        "web1": {**empty_recap(), "ok": 1, "changed": 1, "failed": 1, "skipped": 1},
    }
    assert [(r.level, r.host, r.event) for r in rows] == [
        ("INFO", "", "playbook_on_stats"),  # PLAY RECAP ***
        ("ERROR", "db9", "playbook_on_stats"),  # unreachable=1
        ("ERROR", "web1", "playbook_on_stats"),  # failed=1
    ]
    assert rows[2].message.startswith("web1 ") and not rows[2].message.endswith(" ")  # trailing spaces cut


def test_a_clean_recap_line_is_info():
    stats = copy.deepcopy(one("playbook_on_stats"))
    clean = "web1                       : ok=3    changed=1    unreachable=0    failed=0   "
    stats["stdout"] = "\r\nPLAY RECAP ***\r\n" + clean
    _, rows = mapped([stats])
    assert rows[-1].level == "INFO" and rows[-1].host == "web1"


def test_recap_from_stats_counts_every_host_that_ran():
    stats = {"ok": {"a": 2}, "dark": {"b": 1}, "processed": {"a": 1, "b": 1, "c": 1}, "failures": {}}
    recap = recap_from_stats(stats)
    assert list(recap) == ["a", "b", "c"]
    assert recap["a"]["ok"] == 2 and recap["b"]["unreachable"] == 1 and recap["c"] == empty_recap()


# ---- a whole run, as ansible-runner sends it ------------------------------------------------------------
def test_a_whole_run_maps_to_these_lines_recap_and_failures():
    mapper, rows = mapped(RUN, tasks_expected=3)
    assert mapper.events == len(RUN) == 14
    unreachable = ("ERROR", "db9", "say hello", "runner_on_unreachable")
    failed = ("ERROR", "web1", "fail here", "runner_on_failed")
    assert [(r.level, r.host, r.task, r.event) for r in rows] == [
        ("INFO", "", "", "playbook_on_play_start"),
        ("INFO", "", "say hello", "playbook_on_task_start"),
        *[unreachable] * 8,  # [ERROR]…, Origin, three source lines, the caret, fatal: [db9]…, msg
        ("INFO", "web1", "say hello", "runner_on_ok"),
        ("DEBUG", "web1", "say hello", "runner_on_ok"),  # hello
        ("INFO", "", "skip me", "playbook_on_task_start"),
        ("INFO", "web1", "skip me", "runner_on_skipped"),
        ("INFO", "", "fail here", "playbook_on_task_start"),
        *[failed] * 8,
        ("INFO", "", "", "playbook_on_stats"),
        ("ERROR", "db9", "", "playbook_on_stats"),
        ("ERROR", "web1", "", "playbook_on_stats"),
    ]
    assert not any(r.message == "" or r.message != r.message.rstrip() for r in rows)
    assert (mapper.tasks_started, mapper.current_task, mapper.progress) == (3, "fail here", 66)
    assert [f.split(":")[0] for f in mapper.failures] == ["db9", "web1"]
    assert set(mapper.recap) == {"db9", "web1"}
    assert mapper.last_error_line == ""  # every [ERROR] here belongs to a host


def test_a_play_that_matched_no_hosts_warns_and_has_an_empty_recap():
    mapper, rows = mapped(EVENTS["no_hosts_matched"])
    assert rows[0] == Row(
        "WARNING", "", "", "warning", "[WARNING]: Could not match supplied host pattern, ignoring: nosuchhost"
    )
    assert [r.level for r in rows[1:]] == ["INFO"] * 3
    assert mapper.recap == {} and mapper.failures == []


# ---- plain (verbose) output outside any host ------------------------------------------------------------
def test_an_ansible_error_block_keeps_its_level_and_is_remembered():
    mapper, rows = mapped(EVENTS["yaml_error"])
    first = "[ERROR]: YAML parsing failed: While parsing a flow sequence did not find expected ',' or ']'."
    assert rows == [
        Row("ERROR", "", "", "verbose", first),
        Row("ERROR", "", "", "verbose", "Origin: /srv/playbooks/pb5.yml:6:1"),  # one event each, same block
        Row("ERROR", "", "", "verbose", "(source not shown: file truncated)"),
    ]
    assert mapper.last_error_line == rows[0].message
    assert mapper.recap is None  # the playbook never ran


def verbose(text: str) -> dict:
    return {"event": "verbose", "stdout": text, "counter": 1, "uuid": "u", "start_line": 0, "end_line": 1}


def test_a_new_bracketed_line_ends_the_carried_level():
    _, rows = mapped(
        [
            verbose("[WARNING]: Found variable using reserved name: tags"),
            verbose("Origin: /srv/playbooks/site.yml:3:5"),
            verbose("[DEPRECATION WARNING]: a thing is going away."),
            verbose("[started TASK: x]"),
            verbose("plain again"),
        ]
    )
    assert [r.level for r in rows] == ["WARNING", "WARNING", "WARNING", "INFO", "INFO"]


def test_a_host_event_ends_the_carried_level():
    _, rows = mapped([verbose("[WARNING]: careful"), one("runner_on_ok"), verbose("plain after")])
    assert [r.level for r in rows] == ["WARNING", "INFO", "DEBUG", "INFO"]


def test_an_error_prefix_inside_a_host_event_does_not_count_as_ansible_own_error():
    mapper, _ = mapped([one("runner_on_failed")])
    assert mapper.last_error_line == ""


# ---- bounds ------------------------------------------------------------------------------------------
def test_long_event_lines_are_cut_in_pieces_and_nul_stays_visible():
    _, rows = mapped([verbose("x" * (MAX_LINE_BYTES + 10) + "\n" + "a\x00b")])
    assert [len(r.message) for r in rows] == [MAX_LINE_BYTES, 10, 3]
    assert rows[-1].message == "a\u2400b"


def test_host_and_task_columns_are_cut_and_failures_kept_are_bounded():
    failed = copy.deepcopy(one("runner_on_failed"))
    failed["event_data"]["host"] = "h" * 300
    failed["event_data"]["task"] = "t" * 300
    mapper, rows = mapped([failed] * (MAX_FAILURES_KEPT + 5))
    assert {(len(r.host), len(r.task)) for r in rows} == {(FIELD_MAX, FIELD_MAX)}
    assert len(mapper.failures) == MAX_FAILURES_KEPT


@pytest.mark.parametrize(
    ("res", "expected"),
    [
        ({"msg": "first line\nsecond line"}, "first line"),
        ({"stderr": "only stderr"}, "only stderr"),
        ({}, "failed"),
        ("not a dict", "failed"),
    ],
)
def test_a_failure_message_is_the_first_line_of_msg_stderr_or_failed(res, expected):
    failed = copy.deepcopy(one("runner_on_failed"))
    failed["event_data"]["res"] = res
    mapper, _ = mapped([failed])
    assert mapper.failures == [f"web1: fail here: {expected}"]


# ---- detail rows: what each task printed ------------------------------------------------------------
def result(task: str, host: str) -> dict:
    (event,) = [e for e in DETAILS if e["event_data"].get("task") == task and e["event_data"].get("host") == host]
    return copy.deepcopy(event)


def test_a_command_result_gives_its_stdout_and_stderr_lines_at_debug_after_the_summary():
    _, rows = mapped([result("multi-line output", "test")])
    tags = ("test", "multi-line output", "runner_on_ok")
    assert rows == [
        Row("INFO", *tags, "ok: [test]"),
        Row("DEBUG", *tags, "line one"),
        Row("DEBUG", *tags, "line two"),
        Row("DEBUG", *tags, ""),  # a blank line the command printed is kept
        Row("DEBUG", *tags, "line four"),
        Row("DEBUG", *tags, "note one", "stderr"),
        Row("DEBUG", *tags, "note two", "stderr"),
    ]


def test_a_redraw_is_stored_as_its_final_text():
    _, rows = mapped([result("redraws and colours", "test")])
    assert [r.message for r in rows if r.level == "DEBUG"] == ["all steps done", "\x1b[32mgreen text\x1b[0m"]


def test_a_failed_shell_task_gives_its_msg_and_stderr_as_errors_and_its_stdout_as_a_detail():
    mapper, rows = mapped([result("failing shell", "web2")])
    assert {(r.host, r.task, r.event) for r in rows} == {("web2", "failing shell", "runner_on_failed")}
    summary = [r for r in rows if r.message.startswith("fatal: [web2]: FAILED!")]
    assert summary and summary[0].level == "ERROR"
    after = rows[rows.index(summary[0]) + 1 :]
    assert [(r.level, r.stream, r.message) for r in after] == [
        ("ERROR", "stdout", "non-zero return code"),
        ("DEBUG", "stdout", "partial output"),
        ("ERROR", "stderr", "first problem"),
        ("ERROR", "stderr", "second problem"),
    ]
    assert mapper.failures == ["web2: failing shell: non-zero return code"]
    (task,) = mapper.failed_tasks  # an agent reads why from the message and the task's last stderr lines
    assert (task["host"], task["task"], task["message"]) == ("web2", "failing shell", "non-zero return code")
    assert task["stderr"] == "first problem\nsecond problem"


def test_the_same_task_that_succeeded_elsewhere_keeps_its_stderr_at_debug():
    _, rows = mapped([result("failing shell", "test"), result("failing shell", "web2")])
    ok = [(r.level, r.stream, r.message) for r in rows if r.host == "test"]
    assert ok == [
        ("INFO", "stdout", "ok: [test]"),
        ("DEBUG", "stdout", "partial output"),
        ("DEBUG", "stderr", "first problem"),
        ("DEBUG", "stderr", "second problem"),
    ]


def test_a_debug_message_is_not_repeated_as_a_detail():
    _, rows = mapped([result("after the failure", "test")])
    assert [(r.level, r.message) for r in rows] == [
        ("INFO", "ok: [test] => {"),
        ("INFO", '    "msg": "still here"'),
        ("INFO", "}"),
    ]


def test_detail_lines_are_capped_per_stream_with_a_count_of_what_was_left_out():
    event = result("multi-line output", "test")
    res = event["event_data"]["res"]
    res["stdout"] = "\n".join(str(n) for n in range(1, MAX_DETAIL_LINES + 501))
    _, rows = mapped([event])
    out = [r.message for r in rows if r.level == "DEBUG" and r.stream == "stdout"]
    assert len(out) == MAX_DETAIL_LINES + 1
    assert out[-2] == str(MAX_DETAIL_LINES)
    assert out[-1] == f"… 500 more stdout lines not kept ({MAX_DETAIL_LINES + 500} in all)"
    assert [r.message for r in rows if r.stream == "stderr"] == ["note one", "note two"]  # not starved


def test_hidden_results_and_a_loops_closing_event_add_no_details():
    hidden = result("failing shell", "web2")
    hidden["event_data"]["res"]["_ansible_no_log"] = True
    _, rows = mapped([hidden])
    assert not [r for r in rows if r.message in ("partial output", "first problem", "non-zero return code")]

    closing = result("multi-line output", "test")
    closing["event_data"]["res"] = {"results": [{"stdout": "x"}], "msg": "All items completed", "changed": False}
    _, rows = mapped([closing])
    assert [r.level for r in rows] == ["INFO"]  # the items brought their own output


def test_a_failed_loop_gives_its_message_and_a_crashed_module_its_output():
    failed = result("failing shell", "web2")
    failed["event_data"]["res"] = {"results": [], "msg": "One or more items failed"}
    _, rows = mapped([failed])
    assert rows[-1] == Row("ERROR", "web2", "failing shell", "runner_on_failed", "One or more items failed")

    crashed = result("failing shell", "web2")
    crashed["event_data"]["res"] = {
        "msg": "MODULE FAILURE\nSee stdout/stderr for the exact error",
        "module_stdout": "",
        "module_stderr": "Traceback (most recent call last):\n  File x\nKeyError: 'y'\n",
        "rc": 1,
    }
    _, rows = mapped([crashed])
    tail = [(r.level, r.stream, r.message) for r in rows[-5:]]
    assert tail == [
        ("ERROR", "stdout", "MODULE FAILURE"),
        ("ERROR", "stdout", "See stdout/stderr for the exact error"),
        ("ERROR", "stderr", "Traceback (most recent call last):"),
        ("ERROR", "stderr", "  File x"),
        ("ERROR", "stderr", "KeyError: 'y'"),  # the trailing newline adds no blank row
    ]


def test_a_message_that_is_not_text_is_shown_as_json():
    event = result("multi-line output", "test")
    event["event_data"]["res"] = {"msg": {"changed": ["a"]}}
    _, rows = mapped([event])
    assert [r.message for r in rows if r.level == "DEBUG"] == ["{", '  "changed": [', '    "a"', "  ]", "}"]
