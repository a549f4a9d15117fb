"""Run one command on one server and wait for it, without a Job (the API's inline exec).

Same SSH path as a remote_exec job (host-key pinning, process-group kill on timeout), but
the output is only kept in memory, up to a bound, and nothing is stored. Failures to
connect or run end in an Outcome with a readable error, never in an exception.
"""

from __future__ import annotations

import asyncio
import logging

import asyncssh
from django.conf import settings

from jobs.executors.remote import Outcome, stream_command
from servers import ssh
from servers.crypto import CredentialDecryptError
from servers.models import Server
from servers.services import pin_host_key, target_for

logger = logging.getLogger("jobs.inline_exec")


def run_inline_command(*, server: Server, command: str, working_dir: str = "", timeout: float) -> Outcome:
    """Blocks for at most `timeout` seconds plus connecting and killing (sync callers only)."""
    try:
        target = target_for(server)
    except CredentialDecryptError as exc:
        return Outcome(status="failed", error=str(exc))
    outcome, seen = asyncio.run(_run(target, command=command, working_dir=working_dir, timeout=timeout))
    if seen is not None:
        pin_host_key(server_id=server.pk, seen=seen)
    return outcome


async def _run(
    target: ssh.Target, *, command: str, working_dir: str, timeout: float
) -> tuple[Outcome, ssh.SeenHostKey | None]:
    try:
        conn, seen = await ssh.connect(target)
    except ssh.SshError as exc:
        return Outcome(status="failed", error=str(exc)), None
    try:
        async with conn:
            outcome = await stream_command(
                conn,
                command=command,
                working_dir=working_dir,
                timeout=timeout,
                tail_bytes=settings.INLINE_EXEC_MAX_BYTES,
            )
    except (asyncssh.Error, OSError) as exc:
        # The connection worked but the session did not (channel refused, dropped, ...).
        reason = getattr(exc, "reason", "") or str(exc) or exc.__class__.__name__
        logger.warning("Inline command on %s failed: %s", target.address, reason)
        outcome = Outcome(status="failed", error=f"The command could not run on {target.name}: {reason}")
    return outcome, seen
