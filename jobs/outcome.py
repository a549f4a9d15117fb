"""How a finished job went, per host and per failed task, read from its stored result.

One reader for every surface that reports an outcome: the notifications (automation/notify.py)
and the MCP answers (livchat/mcp). Each host's reason is worded by the runner that ran it
(jobs/runners/fleet.py, jobs/runners/playbook/events.py), so the job's error, the webhook and
an agent all say the same thing.
"""

from __future__ import annotations

from dataclasses import fields

from jobs.models import Job, JobStatus, JobType
from jobs.runners import fleet
from jobs.runners.playbook import events

MAX_HOSTS = 20  # failed hosts listed by name; the rest are counted


def host_results(job: Job) -> dict:
    """Per host: its status, exit code and, when it did not succeed, why (fleet results,
    playbook recaps, or the one server)."""
    result = job.result if isinstance(job.result, dict) else {}
    hosts = result.get("hosts")
    if isinstance(hosts, dict) and hosts:
        return {name: _host(job, result, name, row if isinstance(row, dict) else {}) for name, row in hosts.items()}
    names = [s.name for s in job.servers.all()] or ([job.server.name] if job.server_id else [])
    ok = job.status == JobStatus.SUCCEEDED
    state = "ok" if ok else JobStatus(job.status).label.lower()
    return {name: _row(state, job.exit_code, "" if ok else job.error.rstrip(".")) for name in names}


def failed_hosts(job: Job, limit: int = MAX_HOSTS) -> list[dict]:
    """The hosts that did not succeed, each with its status, exit code and reason."""
    if not _many_hosts(job):
        return []
    bad = [{"host": name, **row} for name, row in host_results(job).items() if row["status"] not in ("ok", "running")]
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


def _host(job: Job, result: dict, name: str, row: dict) -> dict:
    if "exit_code" in row or "status" in row:  # a fleet host
        known = {f.name for f in fields(fleet.HostResult)}
        host = fleet.HostResult(**{k: v for k, v in row.items() if k in known})
        return _row(host.status, host.exit_code, "" if host.status in ("ok", "running") else fleet.host_reason(host))
    # a playbook host: its recap counts
    if not (row.get("unreachable") or row.get("failed")):
        return _row("ok", job.exit_code, "")
    refused = result.get("errors") if isinstance(result.get("errors"), dict) else {}
    failures = [f"{t['host']}: {t['task']}: {t['message']}" for t in failed_tasks(job)]
    reason = events.host_reason(name, row, refused=refused, failures=failures)
    return _row("unreachable" if row.get("unreachable") else "failed", job.exit_code, reason)


def _row(status: str, exit_code: int | None, reason: str) -> dict:
    return {"status": status, "exit_code": exit_code, "reason": reason}
