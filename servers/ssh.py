"""The one SSH layer (asyncssh): connect with pinned host keys, run commands, kill them.

Nothing here touches the database: callers pass a `Target` snapshot and persist a newly
pinned host key themselves (servers.services.pin_host_key).
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import signal
from dataclasses import dataclass, field

import asyncssh

logger = logging.getLogger("servers.ssh")

PGID_MARKER = b"__LIVCHAT_PGID__="
DEFAULT_CONNECT_TIMEOUT = 15.0
KILL_GRACE_SECONDS = 1.0


class SshError(Exception):
    """An SSH failure with a message meant for the person who runs the job."""


class HostKeyChanged(SshError):
    pass


class AuthenticationFailed(SshError):
    pass


class Unreachable(SshError):
    pass


class ConnectionDropped(SshError):
    pass


@dataclass(frozen=True)
class Target:
    name: str
    host: str
    port: int
    username: str
    private_key: str = field(default="", repr=False)
    passphrase: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    host_key: str = ""  # pinned OpenSSH public key line(s); empty = not pinned yet

    @property
    def address(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"


@dataclass(frozen=True)
class SeenHostKey:
    public_key: str
    fingerprint: str


def fingerprint_of(public_key_line: str) -> str:
    return asyncssh.import_public_key(public_key_line).get_fingerprint("sha256")


def _pinned_keys(target: Target) -> list[asyncssh.SSHKey]:
    return [asyncssh.import_public_key(line) for line in target.host_key.splitlines() if line.strip()]


async def connect(
    target: Target, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> tuple[asyncssh.SSHClientConnection, SeenHostKey | None]:
    """Open a connection. Returns it with the host key to pin when none was pinned yet."""
    pinned = _pinned_keys(target)
    client_keys = None
    if target.private_key:
        try:
            client_keys = [asyncssh.import_private_key(target.private_key, target.passphrase or None)]
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise AuthenticationFailed(f"The private key of {target.name} cannot be read: {exc}") from None
    logger.info("Connecting to %s", target.address)
    try:
        conn = await asyncssh.connect(
            target.host,
            target.port,
            username=target.username,
            client_keys=client_keys,
            password=target.password or None,
            passphrase=None,
            known_hosts=(pinned, [], []) if pinned else None,
            agent_path=None,
            agent_forwarding=False,
            config=None,
            x509_trusted_certs=None,
            connect_timeout=connect_timeout,
            login_timeout=connect_timeout,
            keepalive_interval=15,
            keepalive_count_max=4,
            preferred_auth="publickey,keyboard-interactive,password",
        )
    except asyncssh.HostKeyNotVerifiable:
        raise await _host_key_changed(target, pinned) from None
    except asyncssh.PermissionDenied:
        raise AuthenticationFailed(
            f"Authentication failed for {target.address}: the server refused the configured key/password."
        ) from None
    except (TimeoutError, OSError, asyncssh.Error) as exc:
        raise Unreachable(f"Cannot reach {target.address}: {_describe(exc)}") from None

    if pinned:
        return conn, None
    key = conn.get_server_host_key()
    seen = SeenHostKey(public_key=key.export_public_key("openssh").decode().strip(), fingerprint=key.get_fingerprint())
    logger.info("First contact with %s: pinned host key %s", target.address, seen.fingerprint)
    return conn, seen


async def _host_key_changed(target: Target, pinned: list[asyncssh.SSHKey]) -> HostKeyChanged:
    expected = ", ".join(k.get_fingerprint() for k in pinned)
    try:
        offered = await asyncio.wait_for(
            asyncssh.get_server_host_key(
                target.host, target.port, server_host_key_algs=[pinned[0].get_algorithm()], config=None
            ),
            timeout=DEFAULT_CONNECT_TIMEOUT,
        )
        got = offered.get_fingerprint() if offered else "unknown"
    except (TimeoutError, OSError, asyncssh.Error):
        got = "unknown (the server did not offer a key of the pinned type)"
    message = (
        f"Host key of {target.name} ({target.host}:{target.port}) has changed: pinned {expected}, "
        f"server now offers {got}. Refusing to connect. If the change is expected, re-pin with "
        f"`manage.py add_server {target.name} --reset-host-key`."
    )
    logger.error(message)
    return HostKeyChanged(message)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "connection timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, asyncssh.DisconnectError):
        return exc.reason or exc.__class__.__name__
    return str(exc) or exc.__class__.__name__


def wrap_command(command: str, working_dir: str = "") -> str:
    """Make the remote command report its process group id first, so we can kill the tree.

    sshd starts an exec session with setsid(), so the login shell's $$ is the group id of
    everything the command starts. The marker line is stripped by the reader.
    """
    inner = f"cd -- {shlex.quote(working_dir)} && {command}" if working_dir else command
    return f"printf '%s%s\\n' {shlex.quote(PGID_MARKER.decode())} \"$$\"; exec sh -c {shlex.quote(inner)}"


def parse_pgid_marker(line: bytes) -> int | None:
    if not line.startswith(PGID_MARKER):
        return None
    try:
        return int(line[len(PGID_MARKER) :].strip())
    except ValueError:
        return None


async def kill_process_group(
    conn: asyncssh.SSHClientConnection, pgid: int, *, grace: float = KILL_GRACE_SECONDS
) -> bool:
    """SIGTERM the remote group, SIGKILL what is left after `grace` seconds.

    Uses a second exec channel because OpenSSH refuses channel signals for root logins and
    closing a channel without a PTY leaves the process running. True when the group is gone.
    """
    steps = max(1, int(grace / 0.1))
    # "alive" ignores zombies: a killed process whose parent died too may never be reaped
    # by a container's init, yet it runs nothing. Without ps, kill -0 is the best we have.
    alive = (
        f"alive() {{ if command -v ps >/dev/null 2>&1; then ps -e -o pgid=,stat= | "
        f"awk '$1=={pgid} && $2 !~ /^Z/ {{f=1}} END {{exit !f}}'; else kill -0 -- -{pgid} 2>/dev/null; fi; }}"
    )
    script = (
        f"{alive}; kill -TERM -- -{pgid} 2>/dev/null || exit 0; i=0; "
        f"while [ $i -lt {steps} ]; do alive || exit 0; sleep 0.1; i=$((i+1)); done; "
        f"kill -KILL -- -{pgid} 2>/dev/null; i=0; "
        f"while [ $i -lt 20 ]; do alive || exit 0; sleep 0.1; i=$((i+1)); done; exit 1"
    )
    try:
        result = await asyncio.wait_for(conn.run(script, check=False), timeout=grace + 10)
    except (TimeoutError, OSError, asyncssh.Error) as exc:
        logger.warning("Could not kill remote process group %s: %s", pgid, _describe(exc))
        return False
    return result.exit_status == 0


def exit_code_of(process: asyncssh.SSHClientProcess) -> int | None:
    """The remote exit status; a signal becomes 128+N as in a shell."""
    if process.exit_status is not None and process.exit_status >= 0:
        return process.exit_status
    signal_name = process.exit_signal[0] if process.exit_signal else None
    if signal_name:
        try:
            return 128 + signal.Signals[f"SIG{signal_name}"].value
        except KeyError:
            return 255
    return None
