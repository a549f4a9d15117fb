"""Each server's state in a job, read from the job's stored result: the one rule for "which
hosts did not succeed". jobs/outcome.py adds each host's reason in words; the re-run service
(jobs/services/rerun.py) relaunches on the hosts that did not succeed; the job page counts them.

It reads models only, so the services may use it (outcome.py reads the runners, which use the
services).
"""

from __future__ import annotations

from jobs.models import Job, JobStatus

SUCCEEDED_STATES = frozenset({"ok", "running"})  # running: not failed (yet)


def host_state(row: dict) -> str:
    """One host's state from its row in `result["hosts"]`: a fleet host's own status (ok,
    failed, unreachable, timed_out, cancelled, pending, running), or from a playbook host's
    recap counts (ok, failed, unreachable)."""
    if "exit_code" in row or "status" in row:
        return str(row.get("status") or "pending")
    if row.get("unreachable"):
        return "unreachable"
    if row.get("failed"):
        return "failed"
    return "ok"


def host_states(job: Job) -> dict[str, str]:
    """Per host name, its state. A job without per-host results (one server, or a playbook that
    never reached its recap) gives each of its servers the job's own outcome."""
    result = job.result if isinstance(job.result, dict) else {}
    hosts = result.get("hosts")
    if isinstance(hosts, dict) and hosts:
        return {name: host_state(row if isinstance(row, dict) else {}) for name, row in hosts.items()}
    names = [s.name for s in job.servers.all()] or ([job.server.name] if job.server_id else [])
    state = "ok" if job.status == JobStatus.SUCCEEDED else JobStatus(job.status).label.lower()
    return dict.fromkeys(names, state)


def unsuccessful_hosts(job: Job) -> list[str]:
    """The names of the hosts that did not succeed (failed, unreachable, timed out, cancelled,
    never started), in name order."""
    return sorted(name for name, state in host_states(job).items() if state not in SUCCEEDED_STATES)
