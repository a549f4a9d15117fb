"""The processes a playbook run starts, found and stopped, here and on the servers.

ansible-runner kills ansible-playbook's process group on cancel or timeout. Two kinds of
process survive that: the SSH ControlPersist masters (OpenSSH detaches them into their
own session so they outlive the group, keeping connections open for a minute), and the
remote commands a task started, which sshd does not stop when a channel without a
terminal closes. Every local process of a run names the run's private folder in its
command line (inventory path, control socket path), which is how they are found; the
remote ones carry the master connection's address in SSH_CONNECTION, which is how they
are found on the server.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shlex
import signal
import socket
import struct
import time

import asyncssh

from servers import ssh

logger = logging.getLogger("jobs.playbook")

REMOTE_KILL_TIMEOUT = 15.0


def processes_mentioning(marker: str) -> list[int]:
    """Live processes (not zombies: their command line is empty) whose command line holds `marker`."""
    needle = marker.encode()
    me = os.getpid()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                cmdline = fh.read()
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return found


def stop_processes(marker: str, *, grace: float = 1.0) -> list[int]:
    """SIGTERM what mentions `marker`, SIGKILL what is left after `grace`; the pids still alive."""
    pids = processes_mentioning(marker)
    if not pids:
        return []
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        if not pids:
            return []
        time.sleep(0.05)
    for pid in pids:
        _signal(pid, signal.SIGKILL)
    time.sleep(0.05)
    return [p for p in processes_mentioning(marker) if _alive(p)]


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != b"Z"


# ---- which TCP connections those processes hold -------------------------------------------
def ssh_connection_strings(pids: list[int]) -> set[str]:
    """SSH_CONNECTION values ("client port server port") of the TCP connections `pids` hold."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    if not inodes:
        return set()
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            with open(table) as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[9] in inodes and fields[3] == "01":  # ESTABLISHED
                local, remote = _address(fields[1], family), _address(fields[2], family)
                found.add(f"{local[0]} {local[1]} {remote[0]} {remote[1]}")
    return found


def _address(text: str, family: int) -> tuple[str, int]:
    host_hex, port_hex = text.split(":")
    words = [int(host_hex[i : i + 8], 16) for i in range(0, len(host_hex), 8)]
    packed = struct.pack(f"={len(words)}I", *words)
    ip = ipaddress.ip_address(socket.inet_ntop(family, packed))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped  # sshd reports v4-mapped clients as plain IPv4
    return str(ip), int(port_hex, 16)


# ---- the remote side ---------------------------------------------------------------------------
def remote_kill_script(connections: set[str], *, grace: float = 1.0) -> str:
    """A shell script that stops every process of the user started over one of `connections`.

    Processes started by a task inherit SSH_CONNECTION from their sshd session, so the
    exact "client port server port" of our own master connection picks out our processes
    and nobody else's. Behind NAT the server sees another address: nothing matches and
    nothing is killed. Processes of another user (after `become`) cannot be read or killed.
    """
    patterns = " ".join(f"-e {shlex.quote('SSH_CONNECTION=' + c)}" for c in sorted(connections))
    steps = max(1, int(grace / 0.1))
    return (
        f"pids=$(grep -lzxF {patterns} /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | tr '\\n' ' '); "
        'set -- $pids; [ $# -eq 0 ] && { echo 0; exit 0; }; kill -TERM "$@" 2>/dev/null; i=0; '
        f'while [ $i -lt {steps} ]; do kill -0 "$@" 2>/dev/null || break; sleep 0.1; i=$((i+1)); done; '
        'kill -KILL "$@" 2>/dev/null; echo $#'
    )


async def kill_remote(target: ssh.Target, connections: set[str]) -> int | None:
    """Stop the processes our connections started on `target`; how many, or None if unknown."""
    if not connections:
        return 0
    try:
        conn, _ = await ssh.connect(target, connect_timeout=10)
    except ssh.SshError as exc:
        logger.warning("Could not reach %s to stop the playbook's remote commands: %s", target.name, exc)
        return None
    async with conn:
        try:
            result = await conn.run(remote_kill_script(connections), check=False, timeout=REMOTE_KILL_TIMEOUT)
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            logger.warning("Could not stop the playbook's remote commands on %s: %s", target.name, exc)
            return None
    try:
        return int(str(result.stdout).strip() or 0)
    except ValueError:
        return None
