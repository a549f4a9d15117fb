"""The "Test connection" check: connect with the pinned host key policy and run `true`; and
the words for connection failures a person reads (an unknown host name says so, not errno -2)."""

from __future__ import annotations

import asyncio
import dataclasses

import asyncssh

from servers import probe, ssh
from servers.models import Server
from servers.services import pin_host_key, record_contact, target_for

CHECK_TIMEOUT = 20.0

# What getaddrinfo's errors read like on glibc, musl and macOS when a name does not resolve.
_UNKNOWN_NAME = (
    "Name or service not known",
    "nodename nor servname provided",
    "No address associated with hostname",
    "Name does not resolve",
    "[Errno -2]",
    "[Errno -5]",
    "[Errno 8]",
)
_NO_RESOLVER = ("Temporary failure in name resolution", "[Errno -3]")


def unknown_host_message(host: str) -> str:
    return f"Unknown host name: {host}"


def worded_error(message: str, *, host: str) -> str:
    """A connection failure in plain words: the resolver's errno text becomes "Unknown host
    name: <host>"; anything else is already worded by servers.ssh and is kept."""
    if any(marker in message for marker in _UNKNOWN_NAME):
        return unknown_host_message(host)
    if any(marker in message for marker in _NO_RESOLVER):
        return f"Cannot look up the host name {host}: the name server did not answer. Try again later."
    return message


def check_saved_server(*, server: Server, actor=None, via: str = "web") -> tuple[bool, str]:
    """The server page's "Test connection": check_connection, its outcome recorded (what the
    pages say about the server's reachability). Returns (logged in, one line in plain words)."""
    try:
        message = check_connection(server=server)
    except ssh.SshError as exc:
        error = worded_error(str(exc), host=server.host)
        record_contact(server_name=server.name, logged_in=False, error=error, actor=actor, via=via)
        return False, error
    record_contact(server_name=server.name, logged_in=True, actor=actor, via=via)
    return True, message


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


@dataclasses.dataclass(frozen=True)
class LoginCheck:
    """What saving a server learnt by trying it. `logged_in`: True (a login worked), False (the
    host or the login failed: `problem` says why, `field` names the form field at fault, if one
    is) or None (nothing was tried, or only the host key was fetched: no credential was sent)."""

    logged_in: bool | None
    problem: str = ""
    field: str = ""

    @property
    def failed(self) -> bool:
        return self.logged_in is False


def check_before_save(
    *,
    actor,
    server: Server | None,
    name: str,
    host: str,
    port: int,
    username: str,
    typed: dict,
    confirmed_fingerprint: str = "",
) -> LoginCheck:
    """Try what is about to be saved, as "Test connection" would. With a pinned or confirmed key
    it logs in (servers.probe.test_connection: the stored secrets go only to the stored address);
    without one, only the host key is fetched, so no credential goes to a host nobody checked.
    NotPermitted as test_connection raises it."""
    same_address = server is not None and (host, port) == (server.host, server.port)
    trusted = confirmed_fingerprint or (same_address and server.host_key)
    try:
        if not trusted:
            probe.probe_host(host=host, port=port, username=username, name=name or "the server")
            return LoginCheck(None)
        report = probe.test_connection(
            actor=actor,
            server=server,
            host=host,
            port=port,
            username=username,
            typed=typed,
            name=name,
            confirmed_fingerprint=confirmed_fingerprint,
        )
    except ssh.SshError as exc:
        problem = worded_error(str(exc), host=host)
        return LoginCheck(False, problem, "host" if problem == unknown_host_message(host) else "")
    if report.logged_in_as:
        return LoginCheck(True)
    return LoginCheck(False, report.problem or "The login test failed.")
