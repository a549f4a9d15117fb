"""Two rules about what a server's stored secrets and jobs may do, kept apart from the use cases
(servers/services.py) that apply them: where stored secrets may be sent, and when a server may
be deleted without its jobs losing their restriction."""

from __future__ import annotations

from servers.models import Server
from servers.permissions import Action, NotPermitted, may


def secrets_follow_denial(*, actor, server: Server) -> str | None:
    """Why `actor` may not send `server`'s stored secrets to a new address, or None.

    Stored secrets belong to the stored address: moving a server (or testing a connection to
    another address with them) hands them to whoever answers there, so it needs the
    manage-credentials permission, like attaching the secrets in the first place."""
    if server.credential_id is None or may(actor, Action.MANAGE_CREDENTIALS, server=server):
        return None
    return (
        f"Not permitted: moving {server.name} to another address would send its stored secrets there, "
        "and you may not manage credentials. Type the secrets again (testing), or ask an Admin."
    )


def check_secrets_may_follow(*, actor, server: Server) -> None:
    reason = secrets_follow_denial(actor=actor, server=server)
    if reason is not None:
        raise NotPermitted(reason)


def deletion_blocker(*, server: Server) -> str | None:
    """Why `server` may not be deleted now, or None.

    A server limited to some groups keeps its jobs (and their logs) limited too; deleting it
    would drop that link and show them to every Viewer. So it stays while it has jobs on
    record: retention removes them (LIVCHAT_LOG_RETENTION_HOURS), then it can go."""
    if not server.allowed_groups.exists():
        return None
    count = server.all_jobs.count() + server.jobs.exclude(servers=server).count()
    if not count:
        return None
    return (
        f"Server {server.name} is limited to some groups and has {count} job(s) on record: deleting it would "
        "show those jobs to every Viewer. Delete it once retention has removed them."
    )
