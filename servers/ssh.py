"""The one SSH layer (asyncssh): connect with pinned host keys, run commands, kill them.

Nothing here touches the database: callers pass a `Target` snapshot; a host key seen on
first contact is persisted through the Target's `pin` hook (servers.services.target_for sets
it to servers.services.pin_host_key) before the connection is used.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncssh

from servers.validators import FieldError, check_host, check_username

logger = logging.getLogger("servers.ssh")
# Tracebacks of unexpected failures: the server log only. "servers.*" records that happen
# during a job are copied into the job's lines, so this logger lives outside that tree.
server_log = logging.getLogger("livchat_server_log.ssh")

PGID_MARKER = b"__LIVCHAT_PGID__="
DEFAULT_CONNECT_TIMEOUT = 15.0
KILL_GRACE_SECONDS = 1.0


class SshError(Exception):
    """An SSH failure with a message meant for the person who runs the job."""


class HostKeyChanged(SshError):
    """The host presents a key other than the pinned (or the operator-given) one."""


class AuthenticationFailed(SshError):
    pass


class Unreachable(SshError):
    pass


class ConnectionDropped(SshError):
    pass


@dataclass(frozen=True)
class SeenHostKey:
    public_key: str
    fingerprint: str


# Persist a key seen on first contact; returns the key line(s) pinned now (which may be another
# contact's), raises HostKeyChanged when the pin is not this key. servers.services provides it.
PinHook = Callable[[SeenHostKey], Awaitable[str]]


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
    expected_fingerprint: str = ""  # given by the operator: the first contact must present it
    pin: PinHook | None = field(default=None, repr=False, compare=False)

    @property
    def address(self) -> str:
        return _printable(f"{self.username}@{self.host}:{self.port}")


def _printable(text: str) -> str:
    return text if text.isprintable() else ascii(text)[1:-1]


def fingerprint_of(public_key_line: str) -> str:
    return asyncssh.import_public_key(public_key_line).get_fingerprint("sha256")


def seen_key(key: asyncssh.SSHKey) -> SeenHostKey:
    return SeenHostKey(public_key=key.export_public_key("openssh").decode().strip(), fingerprint=key.get_fingerprint())


def _pinned_keys(target: Target) -> list[asyncssh.SSHKey]:
    try:
        return [asyncssh.import_public_key(line) for line in target.host_key.splitlines() if line.strip()]
    except (asyncssh.KeyImportError, ValueError):
        raise SshError(
            f"The pinned host key of {target.name} cannot be read. Re-pin it on the server page "
            f"(/servers/{target.name}/repin/) or with `manage.py add_server {target.name} --reset-host-key`."
        ) from None


async def connect(
    target: Target, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> tuple[asyncssh.SSHClientConnection, SeenHostKey | None]:
    """Open a connection. Returns it with the host key seen on first contact (None when a key
    was pinned already). Every failure, expected or not, is an SshError with one readable
    line; the traceback of an unexpected one goes to the server log only.

    First contact: with a password, or a fingerprint the operator gave, the host key is
    fetched by a key-exchange-only probe and checked (and pinned through `target.pin`)
    before any credential is sent; the login then accepts that key only. Otherwise the key
    the login saw is pinned through `target.pin` before the connection is handed out, and a
    key another contact pinned meanwhile closes it.
    """
    return await _one_line_errors(target, _connect(target, connect_timeout))


async def _one_line_errors(target: Target, work: Awaitable):
    try:
        return await work
    except SshError:
        raise
    except Exception as exc:  # noqa: BLE001 - anything unexpected still ends as one line
        server_log.error("Unexpected error connecting to %s (%s)", target.address, target.name, exc_info=exc)
        detail = _printable(str(exc).splitlines()[0] if str(exc) else "")[:200]
        raise SshError(
            f"Cannot connect to {target.address}: unexpected {exc.__class__.__name__}"
            + (f" ({detail})" if detail else "")
            + "; the details are in the server log."
        ) from None


def _check_stored_fields(target: Target) -> None:
    # Servers stored before these rules existed: refused here rather than by getaddrinfo.
    try:
        check_host(target.host, allow_unicode=False)
        check_username(target.username)
    except FieldError as exc:
        raise SshError(f"Server {target.name} cannot be reached as stored: {exc}") from None


async def _connect(target: Target, connect_timeout: float) -> tuple[asyncssh.SSHClientConnection, SeenHostKey | None]:
    _check_stored_fields(target)
    pinned = _pinned_keys(target)
    client_keys = None
    if target.private_key:
        try:
            client_keys = [asyncssh.import_private_key(target.private_key, target.passphrase or None)]
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise AuthenticationFailed(f"The private key of {target.name} cannot be read: {exc}") from None
    logger.info("Connecting to %s", target.address)
    first_seen = None
    if not pinned and (target.password or target.expected_fingerprint):
        first_seen = await _probe_and_pin(target, connect_timeout)
        pinned = [asyncssh.import_public_key(first_seen.public_key)]
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

    if first_seen is not None:
        return conn, first_seen
    if pinned:
        return conn, None
    seen = seen_key(conn.get_server_host_key())
    try:
        await _pin(target, seen)
    except BaseException:
        conn.close()
        raise
    logger.info("First contact with %s: pinned host key %s", target.address, seen.fingerprint)
    return conn, seen


async def probe_host_key(target: Target, *, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> SeenHostKey:
    """The host key `target` presents, from a key exchange alone: no credential is sent."""
    try:
        key = await asyncio.wait_for(asyncssh.get_server_host_key(target.host, target.port, config=None), timeout)
    except (TimeoutError, OSError, asyncssh.Error) as exc:
        raise Unreachable(f"Cannot reach {target.address}: {_describe(exc)}") from None
    if key is None:
        raise SshError(f"{target.address} did not present a host key; refusing to send it a credential.")
    return seen_key(key)


async def first_contact_key(target: Target, *, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> SeenHostKey:
    """The key to pin on first contact: probed, and checked against the operator's fingerprint."""
    return await _one_line_errors(target, _first_contact_key(target, timeout))


async def _first_contact_key(target: Target, timeout: float) -> SeenHostKey:
    _check_stored_fields(target)
    seen = await probe_host_key(target, timeout=timeout)
    if target.expected_fingerprint and seen.fingerprint != target.expected_fingerprint:
        message = (
            f"Host key of {target.name} ({_printable(target.host)}:{target.port}) is {seen.fingerprint}, not "
            f"the fingerprint given for it ({target.expected_fingerprint}). Refusing to connect; no credential "
            f"was sent. Check the host, or give the right fingerprint with `manage.py add_server {target.name} "
            "--update --host-key-fingerprint SHA256:...`."
        )
        logger.error(message)
        raise HostKeyChanged(message)
    return seen


async def _probe_and_pin(target: Target, timeout: float) -> SeenHostKey:
    seen = await _first_contact_key(target, timeout)
    await _pin(target, seen)
    logger.info("First contact with %s: pinned host key %s before logging in", target.address, seen.fingerprint)
    return seen


async def _pin(target: Target, seen: SeenHostKey) -> None:
    if target.pin is None:
        return
    try:
        await target.pin(seen)
    except HostKeyChanged as exc:
        logger.error("%s", exc)
        raise


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
        f"Host key of {target.name} ({_printable(target.host)}:{target.port}) has changed: pinned {expected}, "
        f"server now offers {got}. Refusing to connect. If the change is expected, re-pin on the server page "
        f"(/servers/{target.name}/repin/) or with `manage.py add_server {target.name} --reset-host-key`."
    )
    logger.error(message)
    return HostKeyChanged(message)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "connection timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, asyncssh.DisconnectError):
        return _printable(exc.reason or exc.__class__.__name__)
    return _printable(str(exc) or exc.__class__.__name__)


def wrap_command(command: str, working_dir: str = "", nonce: str = "") -> str:
    """Make the remote command report its process group id first, so we can kill the tree.

    sshd starts an exec session with setsid(), so the login shell's $$ is the group id of
    everything the command starts. The marker line is stripped by the reader; it carries
    `nonce` (new for every run) so that only the line this run printed is believed.
    """
    inner = f"cd -- {shlex.quote(working_dir)} && {command}" if working_dir else command
    marker = PGID_MARKER.decode() + (f"{nonce}=" if nonce else "")
    return f"printf '%s%s\\n' {shlex.quote(marker)} \"$$\"; exec sh -c {shlex.quote(inner)}"


MAX_PGID = 1 << 22  # Linux's highest pid_max


def parse_pgid_marker(line: bytes, nonce: str = "") -> int | None:
    """The process-group id on this run's marker line, or None (then the channel is closed
    instead of killing a group). Only a line with this run's `nonce` counts, and only an id
    above 1: `kill -- -1` would signal every process of the login user, 0 the killer's group."""
    prefix = PGID_MARKER + (nonce.encode() + b"=" if nonce else b"")
    if not line.startswith(prefix):
        return None
    digits = line[len(prefix) :].strip()
    if not digits.isdigit() or len(digits) > 7:
        return None
    pgid = int(digits)
    return pgid if 1 < pgid <= MAX_PGID else None


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
