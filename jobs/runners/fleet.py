"""One command on many servers, as one job (jobs.services.create_fleet_exec_job).

tasks.run_job → runners.dispatch → remote_exec.run → here. Every server is its own asyncio
task in the worker's one loop; at most `forks` of them hold an SSH connection at once (like
Ansible's forks). Each streams through shell.stream_command into the job's one sink, its lines
tagged with its `host`, so seq stays one order for the whole job.

Stopping: one watcher polls the job's cancel flag for all hosts (not one query per host per
tick); the job's timeout is one deadline for the whole run. Either way every running host's
remote process group is killed (shell.py), and hosts not started yet never start.

While it runs, the per-host states go to `Job.result` at most every REPORT_SECONDS (the job
page's host table reads them); the final result holds, per host, its status (ok, failed,
unreachable, timed_out, cancelled), exit code, duration and error, plus a summary.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass

import asyncssh
from asgiref.sync import sync_to_async

from jobs.log.capture import about_host
from jobs.log.sink import JobSink
from jobs.models import Job, JobStatus
from jobs.runners import Outcome
from jobs.runners.shell import CANCEL_POLL_SECONDS, stream_command
from jobs.services import DEFAULT_FORKS, MAX_FORKS, cancel_requested_by
from servers import ssh
from servers.crypto import CredentialDecryptError
from servers.models import Server
from servers.services import pin_host_key, target_for

logger = logging.getLogger("jobs.remote")

REPORT_SECONDS = 0.5
TAIL_BYTES = 1024  # lines are in the sink; only a little of each host's output is kept in memory
FINAL_HOST_STATES = ("ok", "failed", "unreachable", "timed_out", "cancelled")
HOST_STATE_WORDS = {
    "pending": "waiting",
    "running": "running",
    "ok": "ok",
    "failed": "failed",
    "unreachable": "unreachable",
    "timed_out": "timed out",
    "cancelled": "cancelled",
}


@dataclass
class HostResult:
    status: str = "pending"
    exit_code: int | None = None
    duration_s: float | None = None
    error: str = ""


class _Fleet:
    def __init__(self, *, job: Job, sink: JobSink, servers: list[Server]) -> None:
        self.job = job
        self.sink = sink
        self.servers = servers
        self.command = job.params.get("command", "")
        self.working_dir = job.params.get("working_dir", "")
        self.forks = max(1, min(int(job.params.get("forks") or DEFAULT_FORKS), MAX_FORKS))
        self.limit = asyncio.Semaphore(self.forks)
        self.deadline = time.monotonic() + job.timeout
        self.hosts = {s.name: HostResult() for s in servers}
        self.cancelled_by: str | None = None
        self.timed_out = False
        self.stopped = asyncio.Event()
        self.dirty = True

    # ---- the whole run --------------------------------------------------------------------
    async def run(self) -> Outcome:
        names = [s.name for s in self.servers]
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        self.sink.write(f"$ {self.command}", level="INFO", stream="system")
        self.sink.write(
            f"On {len(names)} server{'s' if len(names) != 1 else ''} ({shown}), at most {self.forks} at once.",
            level="INFO",
            stream="system",
        )
        watchers = [asyncio.ensure_future(self._watch_stop()), asyncio.ensure_future(self._report_loop())]
        try:
            await asyncio.gather(*(self._one(s) for s in self.servers))
        finally:
            for w in watchers:
                w.cancel()
        return self._outcome()

    async def _watch_stop(self) -> None:
        check = sync_to_async(cancel_requested_by, thread_sensitive=False)
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.timed_out = True
                self.stopped.set()
                return
            who = await check(self.job.pk)
            if who is not None:
                self.cancelled_by = who
                logger.warning("Cancel requested by %s: stopping every server's command", who)
                self.stopped.set()
                return
            await asyncio.sleep(min(CANCEL_POLL_SECONDS, max(remaining, 0.01)))

    async def _report_loop(self) -> None:
        save = sync_to_async(self._save_progress, thread_sensitive=False)
        while True:
            if self.dirty:
                self.dirty = False
                await save(self.result())
            await asyncio.sleep(REPORT_SECONDS)

    def _save_progress(self, result: dict) -> None:
        summary = result["summary"]
        done = summary["total"] - summary["pending"] - summary["running"]
        step = f"{done} of {summary['total']} servers done"
        if summary["running"]:
            step += f", {summary['running']} running"
        Job.objects.filter(pk=self.job.pk, status=JobStatus.RUNNING).update(
            result=result, progress=int(100 * done / max(1, summary["total"])), current_step=step[:255]
        )

    # ---- one server -----------------------------------------------------------------------
    async def _one(self, server: Server) -> None:
        with about_host(server.name):  # this task's records carry the host
            async with self.limit:
                result = await self._run_on(server)
            self.hosts[server.name] = result
            self.dirty = True
            self._log_result(server.name, result)

    async def _run_on(self, server: Server) -> HostResult:
        if self.cancelled_by is not None:
            return HostResult("cancelled", error="cancelled before it started")
        if self.timed_out or self.deadline - time.monotonic() <= 0:
            return HostResult("timed_out", error="timed out before it started")
        self.hosts[server.name] = HostResult("running")
        self.dirty = True
        started = time.monotonic()
        result = await self._connect_and_run(server)
        result.duration_s = round(time.monotonic() - started, 3)
        return result

    async def _connect_and_run(self, server: Server) -> HostResult:
        try:
            target = await sync_to_async(target_for, thread_sensitive=False)(server)
        except CredentialDecryptError as exc:
            return HostResult("failed", error=str(exc))
        connecting = asyncio.ensure_future(ssh.connect(target))
        stop = asyncio.ensure_future(self.stopped.wait())
        await asyncio.wait([connecting, stop], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not connecting.done():
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            return self._stopped_result("while connecting")
        try:
            conn, seen = connecting.result()
        except ssh.SshError as exc:
            return HostResult("unreachable", error=str(exc))
        if seen is not None:
            await sync_to_async(pin_host_key, thread_sensitive=False)(server_id=server.pk, seen=seen)
        name = server.name

        def store(stream: str, lines: list[str]) -> None:
            self.sink.write_lines(stream, lines, host=name, block=False)

        def show_partial(stream: str, text: str) -> None:
            self.sink.set_partial(stream, text, host=name)

        async def stop_check() -> str | None:
            return self.cancelled_by

        try:
            async with conn:
                outcome = await stream_command(
                    conn,
                    command=self.command,
                    working_dir=self.working_dir,
                    timeout=max(0.1, round(self.deadline - time.monotonic(), 1)),
                    on_lines=store,
                    wait_for_room=self.sink.wait_for_room,
                    cancel_check=stop_check,
                    tail_bytes=TAIL_BYTES,
                    on_partial=show_partial,
                )
        except (asyncssh.Error, OSError) as exc:
            reason = getattr(exc, "reason", "") or str(exc) or exc.__class__.__name__
            return HostResult("failed", error=f"the command could not run: {reason}")
        if outcome.status == JobStatus.TIMED_OUT:
            self.timed_out = True
            return HostResult("timed_out", exit_code=outcome.exit_code, error=f"timed out after {self.job.timeout} s")
        if outcome.status == JobStatus.CANCELLED:
            return HostResult("cancelled", exit_code=outcome.exit_code, error="cancelled")
        if outcome.status == JobStatus.SUCCEEDED:
            return HostResult("ok", exit_code=outcome.exit_code)
        if outcome.exit_code is not None:
            return HostResult("failed", exit_code=outcome.exit_code, error=f"exit code {outcome.exit_code}")
        return HostResult("failed", error=outcome.error.rstrip(".") or "the command did not finish")

    def _stopped_result(self, when: str) -> HostResult:
        if self.cancelled_by is not None:
            return HostResult("cancelled", error=f"cancelled {when}")
        return HostResult("timed_out", error=f"timed out {when}")

    def _log_result(self, name: str, result: HostResult) -> None:
        took = f" in {result.duration_s:g} s" if result.duration_s is not None else ""
        if result.status == "ok":
            logger.info("%s: ok (exit code 0)%s", name, took)
        else:
            logger.error("%s: %s: %s%s", name, HOST_STATE_WORDS[result.status], result.error, took)

    # ---- the end --------------------------------------------------------------------------
    def result(self) -> dict:
        counts = {state: 0 for state in (*FINAL_HOST_STATES, "pending", "running")}
        for host in self.hosts.values():
            counts[host.status] += 1
        summary = {
            "ok": counts["ok"],
            "failed": counts["failed"] + counts["timed_out"] + counts["cancelled"],
            "unreachable": counts["unreachable"],
            "timed_out": counts["timed_out"],
            "cancelled": counts["cancelled"],
            "pending": counts["pending"],
            "running": counts["running"],
            "total": len(self.hosts),
        }
        return {
            "fleet": True,
            "success": self.job.params.get("success", "all"),
            "hosts": {name: asdict(h) for name, h in self.hosts.items()},
            "summary": summary,
        }

    def _outcome(self) -> Outcome:
        result = self.result()
        summary = result["summary"]
        bad = [(name, h) for name, h in self.hosts.items() if h.status != "ok"]
        exit_code = next((h.exit_code for _, h in bad if h.exit_code), None)
        if self.cancelled_by is not None:
            return Outcome(
                status=JobStatus.CANCELLED,
                exit_code=exit_code,
                error=f"Cancelled by {self.cancelled_by}.",
                result=result,
            )
        enough = summary["ok"] >= 1 if result["success"] == "any" else not bad
        if enough:
            return Outcome(status=JobStatus.SUCCEEDED, exit_code=0, result=result)
        reasons = [f"{name}: {host_reason(h)}" for name, h in bad]
        if len(reasons) > 20:
            reasons = [*reasons[:20], f"and {len(reasons) - 20} more"]
        if summary["timed_out"]:
            head = f"Timed out after {self.job.timeout} s"
            error = f"{head} on {_servers(len(bad))}: " + "; ".join(reasons) + "."
            return Outcome(status=JobStatus.TIMED_OUT, exit_code=exit_code, error=error, result=result)
        if len(bad) == 1:
            error = f"Failed on {reasons[0]}."
        else:
            error = f"Failed on {_servers(len(bad))}: " + "; ".join(reasons) + "."
        return Outcome(status=JobStatus.FAILED, exit_code=exit_code, error=error, result=result)


def host_reason(host: HostResult) -> str:
    if host.status == "unreachable":
        return f"unreachable: {host.error.rstrip('.')}"
    return host.error.rstrip(".") or HOST_STATE_WORDS[host.status]


def _servers(n: int) -> str:
    return f"{n} server{'s' if n != 1 else ''}"


def _load_servers(job_pk: int) -> list[Server]:
    return list(Server.objects.filter(all_jobs__pk=job_pk).select_related("credential").order_by("name"))


def fleet_host_rows(job: Job) -> tuple[list[dict], str]:
    """The job page's host table: one row per server (by name) with its state as stored in the
    job's result (live while it runs), and the summary sentence."""
    hosts = (job.result or {}).get("hosts") or {}
    names = sorted({*hosts, *job.servers.values_list("name", flat=True)})
    rows = []
    for name in names:
        host = {**asdict(HostResult()), **hosts.get(name, {})}
        if name not in hosts and job.status == JobStatus.CANCELLED:
            host["status"] = "cancelled"
        rows.append({"host": name, "word": HOST_STATE_WORDS.get(host["status"], host["status"]), **host})
    summary = (job.result or {}).get("summary")
    text = ""
    if summary:
        counts = f"{summary['ok']} ok · {summary['failed']} failed · {summary['unreachable']} unreachable"
        text = f"{counts} — of {summary['total']}"
    return rows, text


async def run(*, job: Job, sink: JobSink) -> Outcome:
    servers = await sync_to_async(_load_servers, thread_sensitive=False)(job.pk)
    if not servers:
        return Outcome(status=JobStatus.FAILED, error="The job's servers were deleted.")
    return await _Fleet(job=job, sink=sink, servers=servers).run()
