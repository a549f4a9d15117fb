"""Self-test for tests/sshd.py: a real sshd we can log into, drop and re-key.

Run without Django: ``.venv/bin/pytest -p no:django tests/servers/test_sshd_fixture.py -q``
"""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncssh
import pytest

from tests.helpers import wait_for
from tests.sshd import SshServer, start_sshd


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def root_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    server = start_sshd(tmp_path_factory.mktemp("sshd-root"), allow_root=True)
    yield server
    server.close()


@asynccontextmanager
async def connect(server: SshServer, username: str | None = None) -> AsyncIterator[asyncssh.SSHClientConnection]:
    # config=None / agent_path=None keep this machine's ssh setup out of the test.
    async with asyncssh.connect(
        server.host,
        port=server.port,
        username=username or server.username,
        client_keys=[asyncssh.import_private_key(server.private_key_text)],
        known_hosts=None,
        agent_path=None,
        config=None,
        connect_timeout=5,
    ) as conn:
        yield conn


async def run_remote(server: SshServer, command: str, username: str | None = None) -> str:
    async with connect(server, username) as conn:
        result = await conn.run(command, check=True, timeout=10)
        return str(result.stdout).strip()


async def host_key_fingerprint(server: SshServer) -> str:
    key = await asyncssh.get_server_host_key(server.host, server.port)
    assert key is not None
    return key.get_fingerprint()


def test_ssh_cli_runs_command(sshd: SshServer) -> None:
    result = subprocess.run(
        sshd.ssh_command("echo hi"),
        check=False,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hi\n"


def test_asyncssh_logs_in_as_test_user(sshd: SshServer) -> None:
    assert asyncio.run(run_remote(sshd, "id -un")) == sshd.username


def test_kill_drops_connection_and_start_restores(sshd: SshServer) -> None:
    async def scenario() -> set[int]:
        async with connect(sshd) as conn:
            process = await conn.create_process("while true; do echo tick; sleep 0.1; done")
            assert (await asyncio.wait_for(process.stdout.readline(), 5)).strip() == "tick"
            # This daemon's session + shell loop (other test runs may share the user).
            from tests.proctree import _descendants, _proc_table

            session_pids = set(sshd.pids_of_user()) & _descendants(sshd._proc.pid, _proc_table())

            sshd.kill()

            # The stream must end and the connection close instead of hanging.
            async with asyncio.timeout(5):
                try:
                    while await process.stdout.readline():
                        pass
                except (asyncssh.Error, OSError):
                    pass
                await conn.wait_closed()

        with pytest.raises(OSError):  # nothing listens any more
            async with connect(sshd):
                pass
        return session_pids

    session_pids = asyncio.run(scenario())
    assert session_pids
    assert not session_pids & set(sshd.pids_of_user())

    sshd.start()
    assert asyncio.run(run_remote(sshd, "echo back")) == "back"


def test_regenerated_host_key_changes_fingerprint(sshd: SshServer) -> None:
    before = asyncio.run(host_key_fingerprint(sshd))
    sshd.regenerate_host_keys()
    sshd.stop()
    sshd.start()
    after = asyncio.run(host_key_fingerprint(sshd))
    assert after != before


def test_allow_root_logs_in_as_root(root_sshd: SshServer) -> None:
    assert asyncio.run(run_remote(root_sshd, "id -u", username="root")) == "0"


def test_run_local_sees_detached_remote_process(sshd: SshServer) -> None:
    # The session ends right away; the nohup'd sleep outlives it, like a job.
    pid = int(asyncio.run(run_remote(sshd, "nohup sleep 30 >/dev/null 2>&1 & echo $!")))
    try:
        assert pid in sshd.pids_of_user()
        ps = sshd.run_local(f"ps -o comm= -p {pid}")
        assert ps.stdout.strip() == "sleep", ps.stderr
    finally:
        sshd.run_local(f"kill {pid}")

    # the kill is asynchronous
    wait_for(lambda: pid not in sshd.pids_of_user(), timeout=5, interval=0.02, message=f"pid {pid} to be gone")


def test_kill_marked_stops_only_the_marked_tree(sshd: SshServer) -> None:
    # A detached loop whose command line holds the marker, with a sleep child that does not.
    marker = f"marked-{uuid.uuid4().hex}"
    other = int(asyncio.run(run_remote(sshd, "nohup sleep 31 >/dev/null 2>&1 & echo $!")))
    loop = f"while :; do sleep 30; done # {marker}"
    asyncio.run(run_remote(sshd, f"nohup sh -c {shlex.quote(loop)} >/dev/null 2>&1 &"))
    try:
        (root,) = wait_for(lambda: sshd.pids_with_marker(marker), timeout=5, message="the marked loop")
        child = wait_for(lambda: _children(root), timeout=5, message="its sleep")
        assert sshd.kill_marked(marker) >= {root, *child}
        assert not sshd.pids_with_marker(marker)
        assert not {root, *child} & set(sshd.pids_of_user())
        assert other in sshd.pids_of_user()  # not marked: left alone
    finally:
        sshd.run_local(f"kill {other}")


def _children(pid: int) -> set[int]:
    from tests.proctree import _descendants, _proc_table

    return _descendants(pid, _proc_table()) - {pid}
