"""ansible-runner events → job log lines, the running task, progress and the recap.

EventMapper is the runner's `event_handler`: it runs in the runner's thread once per
event, turns the event's stdout into rows (with host, task and event set) through the
thread-safe sink, and keeps a little state the runner reads to update the Job row.
It never touches the database itself, so Ansible's output is never held up by it.

Two kinds of rows come from one task result. The summary rows are what ansible-playbook
prints ("ok: [web1]", "fatal: [web1]: FAILED! => {...}"). The detail rows are what the task
itself printed (its `msg`, stdout and stderr, one row per line), which the default output
shows nowhere: DEBUG, like AWX's event detail, except a failed task's `msg` and stderr,
which are ERROR so a failure reads the same on every surface.

Beside the rows, each play, task and host result goes to the job's results file (results.py,
secrets masked): the job page's plays → tasks → hosts outline and each result's JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from jobs.log.lines import MAX_LINE_BYTES, NUL_REPLACEMENT, split_text  # split_text: NUL and \r redraws
from jobs.log.sink import JobSink
from jobs.runners.playbook.results import ResultLog

FIELD_MAX = 255  # host/task columns
EVENT_MAX = 64
ERROR_EVENTS = frozenset(
    {"runner_on_failed", "runner_on_unreachable", "runner_item_on_failed", "runner_on_async_failed"}
)
WARNING_EVENTS = frozenset({"warning", "deprecated", "system_warning", "runner_retry"})
WARNING_PREFIXES = ("[WARNING]", "[DEPRECATION WARNING]")
ERROR_PREFIXES = ("[ERROR]", "ERROR!")
RECAP_KEYS = (
    ("ok", "ok"),
    ("changed", "changed"),
    ("failed", "failures"),
    ("unreachable", "dark"),
    ("skipped", "skipped"),
    ("rescued", "rescued"),
    ("ignored", "ignored"),
)
MAX_FAILURES_KEPT = 20
FAILURE_MESSAGE_CHARS = 300
FAILURE_STDERR_LINES = 5  # a failed task's last stderr lines kept beside its message
# Results whose own output becomes detail rows. An item's output arrives with its item event,
# so a loop's closing event (res["results"]) adds no detail rows but its failure message.
DETAIL_EVENTS = frozenset(
    {
        "runner_on_ok",
        "runner_on_failed",
        "runner_on_unreachable",
        "runner_item_on_ok",
        "runner_item_on_failed",
        "runner_on_async_ok",
        "runner_on_async_failed",
    }
)
# (key in the result, stream): msg first (what went wrong), then what the task printed. A
# module that crashed leaves its output in module_stdout/module_stderr.
DETAIL_KEYS = (
    ("msg", "stdout"),
    ("stdout", "stdout"),
    ("module_stdout", "stdout"),
    ("stderr", "stderr"),
    ("module_stderr", "stderr"),
)
MAX_DETAIL_LINES = 2000  # per key of one result: a `cat` of a huge file cannot flood the job
_RECAP_BAD = re.compile(r"\b(?:unreachable|failed)=[1-9]")


class EventMapper:
    def __init__(self, *, sink: JobSink, tasks_expected: int = 0) -> None:
        self.sink = sink
        # Plays, tasks and each host's result as JSON, for the job page's outline (results.py).
        self.results = ResultLog(getattr(sink, "job_id", ""))
        self.tasks_expected = tasks_expected
        self.tasks_started = 0
        self.current_task = ""
        self.events = 0
        self.recap: dict[str, dict] | None = None
        # The first failed tasks: {host, task, message, stderr} (the job's result["failed_tasks"]).
        self.failed_tasks: list[dict] = []
        self.last_error_line = ""  # an [ERROR] outside any host (syntax error, missing file...)
        self._carry = ""  # the level of the [ERROR]/[WARNING] block plain output is in

    def __call__(self, event: dict) -> bool:
        self.events += 1
        name = event.get("event") or "verbose"
        data = event.get("event_data") or {}
        if name == "playbook_on_task_start":
            self.tasks_started += 1
            self.current_task = _field(str(data.get("task") or data.get("name") or ""))
        elif name == "playbook_on_stats":
            self.recap = recap_from_stats(data)
        host = _field(str(data.get("host") or ""))
        task = _field(str(data.get("task") or ""))
        ignored = bool(data.get("ignore_errors"))
        if name in ERROR_EVENTS and not ignored:
            self._note_failure(host, task, data)
        text = event.get("stdout") or ""
        if text:
            self._write(text, _event_level(name, data, ignored), host=host, task=task, event=name[:EVENT_MAX])
        if name in DETAIL_EVENTS:
            failed = name in ERROR_EVENTS and not ignored
            self._write_details(data.get("res"), failed=failed, host=host, task=task, event=name[:EVENT_MAX])
        self.results.add(name, data)
        return False  # the rows are the record: no per-event JSON file in the artifacts

    @property
    def failures(self) -> list[str]:
        """The failed tasks as "host: task: message" (one reason per failed host)."""
        return [f"{t['host']}: {t['task']}: {t['message']}" for t in self.failed_tasks]

    @property
    def progress(self) -> int:
        """Tasks done over tasks known (the static count, or more once more have started)."""
        known = max(self.tasks_expected, self.tasks_started)
        if known == 0:
            return 0
        done = max(self.tasks_started - 1, 0)  # the current task is still running
        return min(99, int(100 * done / known))

    def _write(self, text: str, level: str, **tags: str) -> None:
        runs: list[tuple[str, list[str]]] = []
        recap = tags["event"] == "playbook_on_stats"
        verbose = tags["event"] == "verbose" and not tags["host"]
        if not verbose:
            self._carry = ""
        for line in _lines(text):
            if recap:
                self._write_recap_line(line)
                continue
            if not tags["host"] and line.startswith(ERROR_PREFIXES):
                level = "ERROR"  # Ansible's own errors: syntax, missing file, no hosts...
                self.last_error_line = self.last_error_line or line
            elif level == "INFO" and line.startswith(WARNING_PREFIXES):
                level = "WARNING"
            elif verbose and line.startswith("["):
                self._carry = ""
            elif verbose and self._carry:
                level = self._carry
            if verbose and level != "INFO":
                # Plain output comes one line per event: the lines after an [ERROR] or
                # [WARNING] (Origin:, the quoted source) keep its level.
                self._carry = level
            line_level = level
            if runs and runs[-1][0] == line_level:
                runs[-1][1].append(line)
            else:
                runs.append((line_level, [line]))
        for line_level, lines in runs:
            self.sink.write_lines("stdout", lines, level=line_level, **tags)

    def _write_recap_line(self, line: str) -> None:
        # "web1   : ok=3 changed=1 unreachable=0 failed=1 ..." gets its host, and ERROR when it failed.
        host, sep, counts = line.partition(" : ")
        host = host.strip() if sep and " " not in host.strip() else ""
        level = "ERROR" if host and _RECAP_BAD.search(counts) else "INFO"
        self.sink.write_lines("stdout", [line], level=level, host=_field(host), event="playbook_on_stats")

    def _write_details(self, res: object, *, failed: bool, **tags: str) -> None:
        if not isinstance(res, dict) or res.get("_ansible_no_log"):
            return  # no_log: Ansible already replaced the result; nothing of it is shown
        loop_end = "results" in res  # a loop's closing event: its items brought their own output
        for key, stream in DETAIL_KEYS:
            if key == "msg":
                # debug's msg is in the summary rows already; "All items completed" says nothing.
                if res.get("_ansible_verbose_always") or (loop_end and not failed):
                    continue
            elif loop_end:
                continue
            lines = _detail_lines(res.get(key))
            if not lines:
                continue
            if len(lines) > MAX_DETAIL_LINES:
                more = len(lines) - MAX_DETAIL_LINES
                lines = lines[:MAX_DETAIL_LINES] + [f"… {more} more {key} lines not kept ({len(lines)} in all)"]
            level = "ERROR" if failed and (key == "msg" or stream == "stderr") else "DEBUG"
            self.sink.write_lines(stream, lines, level=level, **tags)

    def _note_failure(self, host: str, task: str, data: dict) -> None:
        if len(self.failed_tasks) >= MAX_FAILURES_KEPT:
            return
        res = data.get("res") if isinstance(data.get("res"), dict) else {}
        message = str(res.get("msg") or res.get("stderr") or res.get("reason") or "failed").strip()
        message = message.splitlines()[0][:FAILURE_MESSAGE_CHARS] if message else "failed"
        stderr = "" if res.get("_ansible_no_log") else str(res.get("stderr") or "").strip()
        stderr_lines = stderr.splitlines()[-FAILURE_STDERR_LINES:]
        stderr = "\n".join(line[:FAILURE_MESSAGE_CHARS] for line in stderr_lines)
        stderr = "" if stderr == message else stderr
        self.failed_tasks.append({"host": host or "?", "task": task or "?", "message": message, "stderr": stderr})


def host_reason(host: str, counts: dict, *, refused: dict, failures: list[str]) -> str:
    """Why one host of a playbook failed: the reason it was refused before Ansible ran, else its
    first failed task ("task: message", and how many more), else its recap counts."""
    first = next((f for f in failures if f.startswith(f"{host}: ")), "")
    if host in refused:
        reason = without_name(host, refused[host])
    elif first:
        reason = first[len(host) + 2 :]
        if counts.get("failed", 0) > 1:
            reason += f" (and {_plural(counts['failed'] - 1, 'more failed task')})"
    elif counts.get("unreachable"):
        reason = "unreachable"
    else:
        reason = _plural(counts.get("failed", 0), "failed task")
    return reason.rstrip(".")


def without_name(host: str, reason: str) -> str:
    return reason[len(host) + 2 :] if reason.startswith(f"{host}: ") else reason


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _event_level(name: str, data: dict, ignored: bool) -> str:
    if name in ERROR_EVENTS:
        return "WARNING" if ignored else "ERROR"
    if name == "error":
        return "ERROR"
    if name in WARNING_EVENTS:
        return "WARNING"
    res = data.get("res") if isinstance(data.get("res"), dict) else {}
    if data.get("warnings") or data.get("deprecations") or res.get("warnings") or res.get("deprecations"):
        return "WARNING"
    return "INFO"


def _lines(text: str) -> list[str]:
    """Non-blank lines of an event's stdout (a pty's \\r\\n endings), long ones cut in pieces."""
    if "\x00" in text:
        text = text.replace("\x00", NUL_REPLACEMENT)
    out: list[str] = []
    for raw in text.split("\n"):
        line = raw.rstrip()
        if not line:
            continue  # Ansible's section spacing; a row per blank line helps no one
        while len(line) > MAX_LINE_BYTES:
            out.append(line[:MAX_LINE_BYTES])
            line = line[MAX_LINE_BYTES:]
        out.append(line)
    return out


def _detail_lines(value: object) -> list[str]:
    """A result field as rows: every line kept (blank ones too, as the task printed them), a
    \\r redraw as its final text, long lines cut in pieces; none for an empty field."""
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        value = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    lines = split_text(value)
    while lines and not lines[-1].strip():
        lines.pop()
    if not any(len(line) > MAX_LINE_BYTES for line in lines):
        return lines
    out: list[str] = []
    for line in lines:
        while len(line) > MAX_LINE_BYTES:
            out.append(line[:MAX_LINE_BYTES])
            line = line[MAX_LINE_BYTES:]
        out.append(line)
    return out


def _field(value: str) -> str:
    return value[:FIELD_MAX]


def recap_from_stats(data: dict) -> dict[str, dict]:
    """`{host: {ok, changed, failed, unreachable, skipped, rescued, ignored}}` from playbook_on_stats."""
    hosts: set[str] = set()
    for _, key in RECAP_KEYS:
        hosts.update((data.get(key) or {}).keys())
    hosts.update((data.get("processed") or {}).keys())
    return {host: {out: int((data.get(key) or {}).get(host, 0)) for out, key in RECAP_KEYS} for host in sorted(hosts)}


def empty_recap() -> dict:
    return {out: 0 for out, _ in RECAP_KEYS}


@dataclass(frozen=True)
class RecapTable:
    columns: list[str]  # ok, changed, failed, ...
    rows: list[dict]  # {"host", "cells" (in column order), "bad" (a failure or unreachable)}


def recap_table(result: object) -> RecapTable:
    """A playbook job's per-host recap (`result["hosts"]`) as a table for the job page; no rows
    when there is none (the job runs, or the playbook never ran)."""
    columns = [out for out, _ in RECAP_KEYS]
    hosts = result.get("hosts") if isinstance(result, dict) else None
    rows = []
    for host, counts in sorted(hosts.items()) if isinstance(hosts, dict) else ():
        counts = counts if isinstance(counts, dict) else {}
        bad = bool(counts.get("failed") or counts.get("unreachable"))
        rows.append({"host": host, "cells": [counts.get(col, 0) for col in columns], "bad": bad})
    return RecapTable(columns=columns, rows=rows)


# ---- how many tasks a playbook has, for progress ---------------------------------------------
class _Loader(yaml.SafeLoader):
    """SafeLoader that reads Ansible's own tags (!vault, !unsafe, ...) as plain values."""


def _any_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_Loader.add_multi_constructor("!", _any_tag)


def count_tasks(path: Path) -> int:
    """The tasks a playbook will start, counted statically (0 when it cannot be read).

    Included files and roles count as one task each; progress then grows its total as more
    tasks start, so it never goes backwards past 99 %.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            plays = yaml.load(fh, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return 0
    if not isinstance(plays, list):
        return 0
    total = 0
    for play in plays:
        if not isinstance(play, dict) or "hosts" not in play:
            continue
        if _truthy(play.get("gather_facts", True)):
            total += 1
        for key in ("pre_tasks", "tasks", "post_tasks"):
            total += _count_list(play.get(key))
        roles = play.get("roles")
        total += len(roles) if isinstance(roles, list) else 0
    return total


def _count_list(items) -> int:
    if not isinstance(items, list):
        return 0
    n = 0
    for item in items:
        if not isinstance(item, dict):
            continue
        if "block" in item:
            n += _count_list(item.get("block")) + _count_list(item.get("always"))
        else:
            n += 1
    return n


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "true", "1", "on", "y")
    return bool(value)
