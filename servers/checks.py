"""Test connection": connect with the pinned host key policy and run `true`."""

from __future__ import annotations

import asyncio

import asyncssh

from servers import ssh
from servers.models import Server
from servers.services import pin_host_key, target_for

CHECK_TIMEOUT = 20.0


def check_connection(*, server: Server) -> str:
    """A one-line success message; raises ssh.SshError with a readable message on failure.

    A first contact pins the host key, exactly as the first job would.
    """
    target = target_for(server)
    seen, exit_status = asyncio.run(_connect_and_run(target))
    if seen is not None:
        pin_host_key(server_id=server.pk, seen=seen)
    if exit_status != 0:
        raise ssh.SshError(f"Connected to {target.address}, but `true` exited with {exit_status}.")
    pinned = f"; pinned host key {seen.fingerprint}" if seen else ""
    return f"{server.name}: connected to {target.address} and ran `true`{pinned}."


async def _connect_and_run(target: ssh.Target):
    conn, seen = await ssh.connect(target, connect_timeout=CHECK_TIMEOUT)
    try:
        result = await asyncio.wait_for(conn.run("true", check=False), timeout=CHECK_TIMEOUT)
    except TimeoutError:
        raise ssh.SshError(
            f"Connected to {target.address}, but `true` did not finish in {CHECK_TIMEOUT:g} s."
        ) from None
    except (OSError, asyncssh.Error) as exc:
        raise ssh.ConnectionDropped(f"The connection to {target.address} dropped: {exc}") from None
    finally:
        conn.close()
    return seen, result.exit_status
