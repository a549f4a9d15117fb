"""How a finished job went, per host and per failed task, read from its stored result.

One reader for every surface that reports an outcome: the notifications (automation/notify.py)
and the MCP answers (livchat/mcp). Which state each host is in is jobs/host_states.py's rule;
each host's reason is worded by the runner that ran it (jobs/runners/fleet.py,
jobs/runners/playbook/events.py), so the job's error, the webhook and an agent all say the
same thing.
"""

from __future__ import annotations

from dataclasses import fields

from jobs.host_states import SUCCEEDED_STATES, host_states
from jobs.models import Job, JobType
from jobs.runners import fleet
from jobs.runners.playbook import events

MAX_HOSTS = 20  # failed hosts listed by name; the rest are counted


def host_results(job: Job) -> dict:
    """Per host: its status (jobs/host_states.py), exit code and, when it did not succeed, why
    (fleet results, playbook recaps, or the one server)."""
    result = job.result if isinstance(job.result, dict) else {}
    hosts = result.get("hosts") if isinstance(result.get("hosts"), dict) else {}
    out = {}
    for name, state in host_states(job).items():
        row = hosts.get(name)
        if not hosts:  # no per-host results: the job's own outcome
            out[name] = _row(state, job.exit_code, "" if state == "ok" else job.error.rstrip("."))
        else:
            out[name] = _host(job, result, name, state, row if isinstance(row, dict) else {})
    return out


def failed_hosts(job: Job, limit: int = MAX_HOSTS) -> list[dict]:
    """The hosts that did not succeed, each with its status, exit code and reason."""
    if not _many_hosts(job):
        return []
    bad = [{"host": name, **row} for name, row in host_results(job).items() if row["status"] not in SUCCEEDED_STATES]
    return bad[:limit]


def failed_tasks(job: Job) -> list[dict]:
    """A playbook's failed tasks: host, task, message and the task's last stderr lines."""
    result = job.result if isinstance(job.result, dict) else {}
    if job.job_type != JobType.PLAYBOOK:
        return []
    tasks = result.get("failed_tasks")
    if isinstance(tasks, list):
        keys = ("host", "task", "message", "stderr")
        return [{k: str(t.get(k) or "") for k in keys} for t in tasks if isinstance(t, dict)]
    out = []  # jobs stored before failed_tasks: "host: task: message" strings
    for text in result.get("failures") or []:
        host, _, rest = str(text).partition(": ")
        task, _, message = rest.partition(": ")
        out.append({"host": host, "task": task, "message": message, "stderr": ""})
    return out


def _many_hosts(job: Job) -> bool:
    result = job.result if isinstance(job.result, dict) else {}
    return bool(result.get("fleet")) or job.job_type == JobType.PLAYBOOK


def _host(job: Job, result: dict, name: str, state: str, row: dict) -> dict:
    if "exit_code" in row or "status" in row:  # a fleet host
        known = {f.name for f in fields(fleet.HostResult)}
        host = fleet.HostResult(**{k: v for k, v in row.items() if k in known})
        return _row(state, host.exit_code, "" if state in SUCCEEDED_STATES else fleet.host_reason(host))
    # a playbook host: its recap counts
    if state == "ok":
        return _row("ok", job.exit_code, "")
    refused = result.get("errors") if isinstance(result.get("errors"), dict) else {}
    failures = [f"{t['host']}: {t['task']}: {t['message']}" for t in failed_tasks(job)]
    reason = events.host_reason(name, row, refused=refused, failures=failures)
    return _row(state, job.exit_code, reason)


def _row(status: str, exit_code: int | None, reason: str) -> dict:
    return {"status": status, "exit_code": exit_code, "reason": reason}
