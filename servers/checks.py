"""The "Test connection" check: connect with the pinned host key policy and run `true`."""

from __future__ import annotations

import asyncio
import dataclasses

import asyncssh

from servers import ssh
from servers.models import Server
from servers.services import pin_host_key, target_for

CHECK_TIMEOUT = 20.0


def check_connection(*, server: Server) -> str:
    """A one-line success message; raises ssh.SshError with a readable message on failure.

    A first contact pins the host key before logging in, exactly as a job would: the key
    comes from a key-exchange-only probe (checked against the operator's fingerprint, if
    one was given) and is pinned here, in the caller's thread and database connection.
    """
    target = target_for(server)
    pinned_now = None
    if not target.host_key:
        seen = asyncio.run(ssh.first_contact_key(target, timeout=CHECK_TIMEOUT))
        host_key = pin_host_key(server_id=server.pk, seen=seen, host=server.host, port=server.port)
        target = dataclasses.replace(target, host_key=host_key, expected_fingerprint="")
        pinned_now = seen
    exit_status = asyncio.run(_connect_and_run(target))
    if exit_status != 0:
        raise ssh.SshError(f"Connected to {target.address}, but `true` exited with {exit_status}.")
    pinned = f"; pinned host key {pinned_now.fingerprint}" if pinned_now else ""
    return f"{server.name}: connected to {target.address} and ran `true`{pinned}."


async def _connect_and_run(target: ssh.Target):
    conn, _ = await ssh.connect(target, connect_timeout=CHECK_TIMEOUT)
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
    return result.exit_status
