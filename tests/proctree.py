"""Process-table helpers for the test sshd (Linux /proc): find, freeze and kill a tree."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class _ProcInfo:
    ppid: int
    uid: int
    state: str


def _proc_table() -> dict[int, _ProcInfo]:
    table: dict[int, _ProcInfo] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue  # exited while we were scanning
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        table[int(entry.name)] = _ProcInfo(
            ppid=int(fields["PPid"]),
            uid=int(fields["Uid"].split()[0]),
            state=fields["State"].split()[0],
        )
    return table


def _descendants(root: int, table: dict[int, _ProcInfo]) -> set[int]:
    found = {root}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, info in table.items() if info.ppid == parent and pid not in found]
        found.update(children)
        frontier.extend(children)
    return found


def _freeze_tree(root: int) -> set[int]:
    """SIGSTOP ``root`` and its descendants until no new process appears.

    Stopping first means nothing can fork or get reparented away while we
    collect the tree, so the following SIGKILL hits every process in it.
    (sshd children call setsid(), so a process-group kill would miss them.)
    """
    frozen: set[int] = set()
    while True:
        tree = _descendants(root, _proc_table())
        new = tree - frozen
        if not new:
            return frozen
        for pid in new:
            _signal(pid, signal.SIGSTOP)
        frozen |= new


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_dead(pids: set[int], timeout: float = 5.0) -> None:
    """Wait until the killed processes are gone or zombies (SIGKILL is async)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        table = _proc_table()
        if all(pid not in table or table[pid].state == "Z" for pid in pids):
            return
        time.sleep(0.01)


def pids_with_marker(marker: str, *, uid: int | None = None) -> set[int]:
    """Live (non-zombie) pids, of `uid` if given, whose command line contains `marker`.

    A test puts a unique marker in the command it runs, so it finds its own processes and
    nobody else's (unlike killing by process name)."""
    needle = marker.encode()
    found: set[int] = set()
    for pid, info in _proc_table().items():
        if info.state == "Z" or (uid is not None and info.uid != uid):
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # exited while we were scanning
        if needle in cmdline:
            found.add(pid)
    return found


def kill_trees(roots: set[int]) -> set[int]:
    """SIGKILL each of `roots` and its descendants (frozen first, so none forks away) and
    wait until they are dead; returns the pids killed."""
    pids: set[int] = set()
    for root in roots:
        pids |= _freeze_tree(root)
    for pid in pids:
        _signal(pid, signal.SIGKILL)
    _wait_dead(pids)
    return pids
