"""The playbook job: check each server over SSH, run ansible-playbook through ansible-runner,
stream its events into the sink, stop it on cancel or timeout, leave no secret behind.

tasks.run_job → runners.dispatch → runner.run → ansible-runner (own thread) →
events.EventMapper → jobs/log/sink.py → rows. The asyncio side only watches: every POLL_SECONDS it reads the cancel
flag and writes the running task and progress to the Job row when they changed.

Secrets: keys live in a 0600 file of a per-job folder deleted at the end whatever happens
(rundir.py); nothing secret reaches ansible-runner's artifacts. Extra vars and the
inventory's values reach Ansible marked `!unsafe`: never templated on this host. Host keys stay
checked: every server is reached once first (pinning on first contact, refusing a changed
key), then Ansible runs with a known_hosts file of the pinned keys and strict checking.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async

from jobs import services
from jobs.log.capture import about_host
from jobs.log.sink import JobSink
from jobs.models import Job, JobStatus
from jobs.runners import Outcome
from jobs.runners.playbook import processes
from jobs.runners.playbook.catalog import PASSWORD_ONLY_MESSAGE, password_only, resolve_playbook, validate_extra_vars
from jobs.runners.playbook.events import EventMapper, count_tasks, empty_recap, host_reason, without_name
from jobs.runners.playbook.rundir import RunDir, allow_jinja_in_extra_vars, init_runner, sweep_stale_dirs
from jobs.services import JobInputError
from servers import ssh
from servers.models import Server
from servers.services import pin_host_key, target_for

logger = logging.getLogger("jobs.playbook")

POLL_SECONDS = 0.25
STEP_UPDATE_SECONDS = 0.5
PREFLIGHT_PARALLEL = 10
MAX_FORKS = 10


@dataclass
class _Host:
    server: Server
    target: ssh.Target
    error: str = ""
    logged: bool = False  # the SSH layer already logged the error (a changed host key)


@dataclass
class _Stop:
    """Why the run is being stopped; read by the runner's cancel_callback in its thread."""

    reason: JobStatus | None = None  # None, or JobStatus.CANCELLED / JobStatus.TIMED_OUT
    by: str = ""

    def __call__(self) -> bool:
        return bool(self.reason)


async def run(*, job: Job, sink: JobSink) -> Outcome:
    started = time.monotonic()
    servers = await sync_to_async(_load_servers, thread_sensitive=False)(job.pk)
    if not servers:
        return Outcome(status=JobStatus.FAILED, error="The job's servers were deleted.")
    try:
        info = resolve_playbook(job.params.get("playbook"))
        extra_vars = validate_extra_vars(job.params.get("extra_vars") or {})
    except JobInputError as exc:
        return Outcome(status=JobStatus.FAILED, error=str(exc))
    sink.write(f"Playbook {info.name} on {', '.join(s.name for s in servers)}", level="INFO", stream="system")
    if extra_vars and allow_jinja_in_extra_vars():
        sink.write(
            "Extra vars are templated by Ansible on the LivChat host (LIVCHAT_ALLOW_JINJA_IN_EXTRA_VARS is on).",
            level="WARNING",
            stream="system",
        )

    hosts = await _preflight(servers)
    ready = [h for h in hosts if not h.error]
    refused = {h.server.name: h.error for h in hosts if h.error}
    for h in hosts:
        if h.error and not h.logged:
            sink.write(h.error, level="ERROR", stream="system", host=h.server.name)
    if not ready:
        result = {"playbook": info.name, "hosts": _recap_with_refused({}, refused), "errors": refused}
        return Outcome(status=JobStatus.FAILED, error=_refused_message(refused), result=result)
    who = await sync_to_async(_poll_job, thread_sensitive=False)(job, None)
    if who is not None:  # cancelled while the servers were being checked
        return Outcome(status=JobStatus.CANCELLED, error=f"Cancelled by {who}.", result={"playbook": info.name})

    await sync_to_async(sweep_stale_dirs, thread_sensitive=False)(keep=job.job_id)
    rundir = RunDir.create(job.job_id)
    stop = _Stop()
    try:
        inventory = rundir.write_inventory([(h.server, h.target) for h in ready])
        mapper = EventMapper(sink=sink, tasks_expected=count_tasks(info.path))
        runner = await asyncio.to_thread(
            init_runner, rundir=rundir, playbook=info.path, inventory=inventory, extra_vars=extra_vars,
            check=bool(job.params.get("check")), forks=min(len(ready), MAX_FORKS), event_handler=mapper,
            cancel_callback=stop, poll_seconds=POLL_SECONDS,
        )  # fmt: skip
        status, rc = await _run_and_watch(job, runner, mapper, stop, deadline=started + job.timeout)
        if stop.reason:
            await _stop_remote_commands(rundir, ready)
    finally:
        leftovers = await asyncio.to_thread(rundir.remove)
        if leftovers:
            logger.error("ansible processes still alive after the run: %s", leftovers)
    return _outcome(job, info.name, mapper, stop, status, rc, refused)


def _load_servers(job_pk: int) -> list[Server]:
    return list(Server.objects.filter(all_jobs__pk=job_pk).select_related("credential").order_by("name"))


# ---- before Ansible: reach every server once, pin or check its host key -------------------------
async def _preflight(servers: list[Server]) -> list[_Host]:
    limit = asyncio.Semaphore(PREFLIGHT_PARALLEL)

    async def check(server: Server) -> _Host:
        target = await sync_to_async(target_for, thread_sensitive=False)(server)
        host = _Host(server=server, target=target)
        if password_only(server):
            host.error = f"{server.name}: {PASSWORD_ONLY_MESSAGE}."
            return host
        async with limit:
            try:
                with about_host(server.name):
                    conn, seen = await ssh.connect(target)
            except ssh.SshError as exc:
                host.error, host.logged = str(exc), isinstance(exc, ssh.HostKeyChanged)
                return host
            conn.close()
        if seen is not None:
            await sync_to_async(pin_host_key, thread_sensitive=False)(server_id=server.pk, seen=seen)
            host.target = dataclasses.replace(target, host_key=seen.public_key)
        return host

    return list(await asyncio.gather(*(check(s) for s in servers)))


async def _run_and_watch(job: Job, runner, mapper: EventMapper, stop: _Stop, *, deadline: float) -> tuple[str, int]:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = runner.run()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the loop's side
            box["error"] = exc
        finally:
            loop.call_soon_threadsafe(done.set)

    thread = threading.Thread(target=target, name=f"ansible-{job.job_id}", daemon=True)
    thread.start()
    shown = (job.current_step, job.progress)
    last_push = 0.0
    try:
        while not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), POLL_SECONDS)
                break
            except TimeoutError:
                pass
            step = (mapper.current_task or job.current_step, mapper.progress)
            push = step != shown and time.monotonic() - last_push >= STEP_UPDATE_SECONDS
            if push:
                shown, last_push = step, time.monotonic()
            who = await sync_to_async(_poll_job, thread_sensitive=False)(job, step if push else None)
            if stop.reason:
                continue
            if who is not None:
                stop.reason, stop.by = JobStatus.CANCELLED, who
                logger.warning("Cancel requested by %s: stopping ansible-playbook", who)
            elif time.monotonic() >= deadline:
                stop.reason = JobStatus.TIMED_OUT
                logger.error("Timed out after %s s: stopping ansible-playbook", job.timeout)
    finally:
        if not done.is_set():  # we are being cancelled ourselves: never leave Ansible running
            stop.reason = stop.reason or JobStatus.CANCELLED
            await asyncio.to_thread(thread.join, 30)
    if "error" in box:
        raise box["error"]
    if mapper.current_task:
        job.current_step = mapper.current_task
    job.progress = mapper.progress
    return box["result"]


def _poll_job(job: Job, step: tuple[str, int] | None) -> str | None:
    """Write the running task/progress (when given) and read the cancel request."""
    if step is not None:
        job.current_step, job.progress = step[0][:255], step[1]
        Job.objects.filter(pk=job.pk).update(current_step=job.current_step, progress=job.progress)
        services.notify_status(job=job)
    return services.cancel_requested_by(job.pk)


async def _stop_remote_commands(rundir: RunDir, hosts: list[_Host]) -> None:
    # The masters still hold the connections the tasks ran on (they are not in the
    # process group ansible-runner killed): their addresses find the remote processes.
    masters = processes.processes_mentioning(str(rundir.control_dir))
    connections = processes.ssh_connection_strings(masters)
    if not connections:
        return
    counts = await asyncio.gather(*(processes.kill_remote(h.target, connections) for h in hosts))
    stopped = sum(c for c in counts if c)
    if stopped:
        logger.info("Stopped %s remote process(es) started by the playbook", stopped)


# ---- the outcome ------------------------------------------------------------------------------
def _outcome(job, playbook: str, mapper: EventMapper, stop: _Stop, status: str, rc, refused: dict) -> Outcome:
    recap = _recap_with_refused(mapper.recap or {}, refused)
    result = {"playbook": playbook, "hosts": recap, "runner_status": status, "rc": rc, "events": mapper.events}
    if mapper.failed_tasks:
        result["failed_tasks"] = mapper.failed_tasks
    if refused:
        result["errors"] = refused
    if stop.reason == JobStatus.CANCELLED:
        return Outcome(status=JobStatus.CANCELLED, error=f"Cancelled by {stop.by or 'the system'}.", result=result)
    if stop.reason == JobStatus.TIMED_OUT:
        return Outcome(status=JobStatus.TIMED_OUT, error=f"Timed out after {job.timeout} s.", result=result)
    bad = {h: r for h, r in recap.items() if r["failed"] or r["unreachable"]}
    if bad:
        if not rc:  # hosts refused before ansible ran: report ansible's own codes, not 0
            rc = 4 if any(r["unreachable"] for r in bad.values()) else 2
        error = failure_summary(bad, refused=refused, failures=mapper.failures)
        return Outcome(status=JobStatus.FAILED, exit_code=rc, error=error, result=result)
    if rc != 0 or status != "successful":
        detail = mapper.last_error_line or "see the log"
        return Outcome(
            status=JobStatus.FAILED,
            exit_code=rc,
            error=f"ansible-playbook exited with code {rc}: {detail}",
            result=result,
        )
    return Outcome(status=JobStatus.SUCCEEDED, exit_code=rc, result=result)


def failure_summary(bad: dict, *, refused: dict, failures: list[str]) -> str:
    """One reason per failed host: "Failed on 2 servers: web1: unreachable: …; web2: task: msg."
    (each host's reason: events.host_reason)."""
    reasons = [f"{h}: {host_reason(h, counts, refused=refused, failures=failures)}" for h, counts in bad.items()]
    if len(reasons) == 1:
        return f"Failed on {reasons[0]}."
    return f"Failed on {len(reasons)} servers: " + "; ".join(reasons) + "."


def _recap_with_refused(recap: dict, refused: dict) -> dict:
    merged = dict(recap)
    for name in refused:
        merged[name] = {**empty_recap(), "unreachable": 1}
    return merged


def _refused_message(refused: dict) -> str:
    if len(refused) == 1:
        return next(iter(refused.values()))
    reasons = [f"{host}: {without_name(host, reason).rstrip('.')}" for host, reason in refused.items()]
    return "No server could be used: " + "; ".join(reasons) + "."
