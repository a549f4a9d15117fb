"""A playbook job's task results, kept for the job page's plays → tasks → hosts outline and
each host's full result (AWX's event detail panel).

Where: `<JOB_LOG_DIR>/<job_id>.results`, one compact JSON object a line, appended by the
EventMapper (events.py) in the runner's thread as Ansible reports. Records:
  {"k": "play", "play", "play_uuid"}                      a play starts
  {"k": "task", "play_uuid", "task", "task_uuid", "action"}  a task starts
  {"k": "start", "task_uuid", "host"}                     a host starts the task
  {"k": "result", "play", "task", "task_uuid", "host", "event", "status", "action",
   "start", "end", "duration", "res"}                     a host's result (res: the module's)
A loop's items are in its closing result (`res["results"]`): no record an item.

Why a file and not rows: the rows are the log that people read, search, download and diff;
a result's JSON (timings, module args) would be noise in all four and make two identical runs
differ. The file costs one small append per host and task, beside Ansible's own ~5 ms an event.

Secrets never reach the file: a `no_log` result is what Ansible left of it ("censored"), the
task's argument string is dropped (it holds the module args as typed), and every value under a
key that looks secret (password, secret, token, key, passphrase...) is masked, at any depth.
Long strings and lists are cut (the full output is in the log's detail rows).

Read back by `outline` (no results, only states) and `result` (one record, by its line index).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from jobs.log import logfile

logger = logging.getLogger("jobs.playbook")

SUFFIX = ".results"
MASK = "********"
STRING_MAX = 8000  # characters of one string value kept
LIST_MAX = 500  # items of one list kept
DEPTH_MAX = 24
RECORD_MAX = 512 * 1024  # bytes of one record; a bigger one keeps only its summary fields
MAX_RESULTS_LISTED = 20_000  # host results in one outline (a huge run lists its first ones)

RESULT_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
    "runner_on_async_ok": "ok",
    "runner_on_async_failed": "failed",
}
# A key is secret when one of its words (split at _, -, ., spaces and camelCase) is one of
# these, or ends like one ("dbpassword", "apitoken").
SECRET_WORDS = frozenset({"password", "passwd", "pass", "pwd", "passphrase", "secret", "token", "key", "apikey"})
SECRET_ENDINGS = ("password", "passwd", "passphrase", "secret", "token", "privatekey", "apikey")
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def path_for(job_id: str) -> Path:
    return logfile.log_dir() / f"{job_id}{SUFFIX}"


def looks_secret(name: object) -> bool:
    if not isinstance(name, str):
        return False
    words = _WORD_SPLIT.split(_CAMEL.sub("_", name).lower())
    return any(w in SECRET_WORDS or w.endswith(SECRET_ENDINGS) for w in words if w)


def masked(value: object, depth: int = 0) -> object:
    """`value` with every secret-looking key's value masked, `_ansible_*` internals dropped,
    long strings and lists cut; a copy (the event itself is left as it was)."""
    if depth > DEPTH_MAX:
        return "…"
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            key = str(key)
            if key.startswith("_ansible_"):
                continue
            if looks_secret(key) and item not in (None, "", [], {}) and not isinstance(item, bool):
                out[key] = MASK
            else:
                out[key] = masked(item, depth + 1)
        return out
    if isinstance(value, list | tuple):
        items = [masked(item, depth + 1) for item in value[:LIST_MAX]]
        if len(value) > LIST_MAX:
            items.append(f"… {len(value) - LIST_MAX} more items not kept ({len(value)} in all)")
        return items
    if isinstance(value, str) and len(value) > STRING_MAX:
        return value[:STRING_MAX] + f"… ({len(value) - STRING_MAX} more characters: see the task output in the log)"
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def status_of(event: str, data: dict) -> str:
    """ok, changed, failed, ignored (failed under ignore_errors), unreachable or skipped."""
    status = RESULT_EVENTS.get(event, "ok")
    res = data.get("res") if isinstance(data.get("res"), dict) else {}
    if status == "failed" and data.get("ignore_errors"):
        return "ignored"
    if status == "ok" and res.get("changed"):
        return "changed"
    return status


class ResultLog:
    """The writer: the EventMapper hands it every event; it keeps the few it records.

    Each record is one append (open, write, close): no file stays open if the run is killed,
    and a reader never sees more than one partial line (the last, skipped). Never raises: a
    full disk costs the outline, not the playbook."""

    def __init__(self, job_id: str) -> None:
        # The stand-in sinks of the unit tests have no job: nothing is kept for them.
        self.path = path_for(job_id) if job_id else None
        self.failed = False

    def add(self, event: str, data: dict) -> None:
        if self.path is None or self.failed:
            return
        record = _record(event, data)
        if record is not None:
            self._append(record)

    def _append(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        if len(line) > RECORD_MAX:
            record["res"] = {"msg": f"This result was {len(line)} bytes: too big to keep. The log has its output."}
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8", errors="replace") as fh:
                fh.write(line + "\n")
        except OSError as exc:
            self.failed = True
            logger.warning("Task results are not kept for the job page: %s", exc)


def _record(event: str, data: dict) -> dict | None:
    if event == "playbook_on_play_start":
        name = str(data.get("name") or data.get("play") or "")
        return {"k": "play", "play": name, "play_uuid": data.get("play_uuid")}
    if event == "playbook_on_task_start":
        return {
            "k": "task",
            "play_uuid": data.get("play_uuid"),
            "task": str(data.get("task") or data.get("name") or ""),
            "task_uuid": data.get("task_uuid"),
            "action": data.get("resolved_action") or data.get("task_action") or "",
        }
    if event == "runner_on_start":
        return {"k": "start", "task_uuid": data.get("task_uuid"), "host": str(data.get("host") or "")}
    if event not in RESULT_EVENTS:
        return None
    res = data.get("res") if isinstance(data.get("res"), dict) else {}
    return {
        "k": "result",
        "play": str(data.get("play") or ""),
        "play_uuid": data.get("play_uuid"),
        "task": str(data.get("task") or ""),
        "task_uuid": data.get("task_uuid"),
        "host": str(data.get("host") or ""),
        "event": event,
        "status": status_of(event, data),
        "action": data.get("resolved_action") or data.get("task_action") or "",
        "start": data.get("start"),
        "end": data.get("end"),
        "duration": data.get("duration"),
        # no_log: Ansible already replaced the result with {"censored": ...}; masked() keeps that.
        "res": masked(res),
    }


# ---- reading --------------------------------------------------------------------------------
def _records(job_id: str):
    """(line index, record) of the job's file, in order; a line that does not parse (the one
    being written) is skipped."""
    path = path_for(job_id)
    try:
        fh = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
    except OSError:
        return
    with fh:
        for n, line in enumerate(fh):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield n, record


def outline(job_id: str) -> dict:
    """`{"plays": [{"name", "tasks": [{"name", "action", "hosts": [{"host", "status", "n"}],
    "counts": {status: n}}]}], "results": int, "truncated": bool}`. A host that started a task
    and has no result yet is "running" (no `n`); `n` finds its result (`result`)."""
    plays: list[dict] = []
    play_of: dict[str, dict] = {}
    task_of: dict[str, dict] = {}
    results = 0
    truncated = False

    def play_for(uuid, name: str) -> dict:
        play = play_of.get(uuid) if uuid else None
        if play is None:
            play = {"name": name, "tasks": []}
            plays.append(play)
            if uuid:
                play_of[uuid] = play
        return play

    def task_for(record: dict) -> dict:
        uuid = record.get("task_uuid")
        task = task_of.get(uuid) if uuid else None
        if task is None:
            task = {"name": record.get("task") or "", "action": record.get("action") or "", "hosts": [], "_by": {}}
            play_for(record.get("play_uuid"), record.get("play") or "")["tasks"].append(task)
            if uuid:
                task_of[uuid] = task
        return task

    for n, record in _records(job_id):
        kind = record.get("k")
        if kind == "play":
            play_for(record.get("play_uuid"), record.get("play") or "")
        elif kind == "task":
            task_for(record)
        elif kind in ("start", "result"):
            task = task_of.get(record.get("task_uuid")) if kind == "start" else task_for(record)
            if task is None:
                continue
            if kind == "result":
                results += 1
                if results > MAX_RESULTS_LISTED:
                    truncated = True
                    break
            host = record.get("host") or ""
            row = task["_by"].get(host)
            if row is None:
                row = {"host": host, "status": "running"}
                task["_by"][host] = row
                task["hosts"].append(row)
            if kind == "result":
                row.update(status=record.get("status") or "ok", n=n)
    for play in plays:
        for task in play["tasks"]:
            del task["_by"]
            counts: dict[str, int] = {}
            for row in task["hosts"]:
                counts[row["status"]] = counts.get(row["status"], 0) + 1
            task["counts"] = counts
    return {"plays": plays, "results": min(results, MAX_RESULTS_LISTED), "truncated": truncated}


def result(job_id: str, n: int) -> dict | None:
    """The result record on line `n` of the job's file (None when there is none)."""
    for index, record in _records(job_id):
        if index == n:
            return record if record.get("k") == "result" else None
        if index > n:
            return None
    return None


def states_so_far(job_id: str) -> dict[str, str]:
    """Each host's state so far, from its results: failed or unreachable once any task failed
    or could not reach it (not undone by later results), else ok; running while it has a task
    started and not finished. For a playbook still running (the recap comes at its end)."""
    states: dict[str, str] = {}
    started: dict[str, set] = {}
    for _, record in _records(job_id):
        kind, host = record.get("k"), record.get("host") or ""
        if kind == "start":
            started.setdefault(host, set()).add(record.get("task_uuid"))
            states.setdefault(host, "running")
        elif kind == "result":
            started.get(host, set()).discard(record.get("task_uuid"))
            status = record.get("status")
            if states.get(host) in ("failed", "unreachable"):
                continue
            if status in ("failed", "unreachable"):
                states[host] = status
            else:
                states[host] = "running" if started.get(host) else "ok"
    return states
