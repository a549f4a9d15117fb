"""Running a command: on one server (`create_remote_exec_job`), or the same command on many
servers as one job (`create_fleet_exec_job`, run by jobs/runners/fleet.py), with the targets
resolved by name and tag under the permission rule."""

from __future__ import annotations

from django.conf import settings

from jobs.models import Job, JobType
from jobs.services.base import JobInputError, create_job, validate_command, validate_timeout, validate_working_dir
from servers.models import Server
from servers.permissions import Action, check, usable_servers


def create_remote_exec_job(
    *,
    server: Server,
    command: str,
    timeout: int | None = None,
    working_dir: str | None = None,
    created_by=None,
    via: str = "",
    enqueue: bool = True,
    inline: bool = False,
) -> Job:
    params = {"command": validate_command(command), "working_dir": validate_working_dir(working_dir)}
    timeout = validate_timeout(timeout, default=settings.JOB_DEFAULT_TIMEOUT, maximum=settings.JOB_MAX_TIMEOUT)
    return create_job(
        job_type=JobType.REMOTE_EXEC,
        servers=[server],
        params=params,
        timeout=timeout,
        created_by=created_by,
        via=via,
        enqueue=enqueue,
        inline=inline,
    )


# ---- one command on many servers (jobs/runners/fleet.py runs it) -------------------------------
MAX_FLEET_TARGETS = 1000
MAX_FORKS = 100
DEFAULT_FORKS = 10
SUCCESS_MODES = ("all", "any")  # the job succeeds when every host did, or when at least one did


def resolve_targets(
    *, user, servers: list[str] | None = None, tags: list[str] | None = None, action: Action = Action.RUN
) -> list[Server]:
    """The servers named, plus every server carrying one of `tags`: de-duplicated, sorted by
    name, only those `user` may run on (`action`: VIEW to ask what a policy would say; None: a
    management command, every server).

    A name the user may not use reads as unknown (a server limited to other groups is not
    revealed); so does a tag only such servers carry."""

    names = list(dict.fromkeys(n.strip() for n in servers or [] if isinstance(n, str) and n.strip()))
    wanted = list(dict.fromkeys(t.strip() for t in tags or [] if isinstance(t, str) and t.strip()))
    if not names and not wanted:
        raise JobInputError("Give at least one server or tag to run on.")
    if user is not None:
        check(user, action)
    pool = (Server.objects.all() if user is None else usable_servers(user)).select_related("credential")
    found = {s.name: s for s in pool.filter(name__in=names)} if names else {}
    missing = [n for n in names if n not in found]
    if missing:
        shown = ", ".join(repr(n) for n in missing[:10]) + (" …" if len(missing) > 10 else "")
        raise JobInputError(f"Unknown or not permitted server{'s' if len(missing) > 1 else ''} {shown}.")
    chosen = dict(found)
    if wanted:
        # Tags are a JSON list: matched here, portable across SQLite and PostgreSQL.
        matched = {t: 0 for t in wanted}
        for server in pool:
            hit = [t for t in wanted if t in (server.tags or [])]
            for t in hit:
                matched[t] += 1
            if hit:
                chosen[server.name] = server
        empty = [t for t, n in matched.items() if not n]
        if empty:
            shown = ", ".join(repr(t) for t in empty[:10])
            raise JobInputError(
                f"No server you may use has the tag{'s' if len(empty) > 1 else ''} {shown} "
                "(tags are set on each server's page)."
            )
    if len(chosen) > MAX_FLEET_TARGETS:
        raise JobInputError(
            f"Too many targets: {len(chosen)} servers; one job runs on at most {MAX_FLEET_TARGETS}. "
            "Narrow the tags or split the run."
        )
    targets = [chosen[n] for n in sorted(chosen)]
    if user is not None:
        for server in targets:
            check(user, action, server=server)
    return targets


def validate_forks(forks: int | None) -> int:
    if forks is None:
        return DEFAULT_FORKS
    if isinstance(forks, bool) or not isinstance(forks, int) or not 1 <= forks <= MAX_FORKS:
        raise JobInputError(f"forks must be a whole number between 1 and {MAX_FORKS}.")
    return forks


def create_fleet_exec_job(
    *,
    servers: list[Server],
    command: str,
    timeout: int | None = None,
    working_dir: str | None = None,
    forks: int | None = None,
    success: str = "all",
    targets: dict | None = None,
    created_by=None,
    via: str = "",
    enqueue: bool = True,
) -> Job:
    """One remote_exec job on many servers (`forks` at a time). `targets` records what was asked
    ({"servers": [...], "tags": [...]}) beside the servers it resolved to."""
    if not servers:
        raise JobInputError("Give at least one server or tag to run on.")
    if success not in SUCCESS_MODES:
        raise JobInputError('success must be "all" (every server) or "any" (at least one).')
    params = {
        "command": validate_command(command),
        "working_dir": validate_working_dir(working_dir),
        "forks": validate_forks(forks),
        "success": success,
        "targets": targets or {"servers": [s.name for s in servers], "tags": []},
    }
    timeout = validate_timeout(timeout, default=settings.JOB_DEFAULT_TIMEOUT, maximum=settings.JOB_MAX_TIMEOUT)
    return create_job(
        job_type=JobType.REMOTE_EXEC,
        servers=servers,
        params=params,
        timeout=timeout,
        created_by=created_by,
        via=via,
        enqueue=enqueue,
    )
