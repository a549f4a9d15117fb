"""Start a real OpenSSH ``sshd`` on 127.0.0.1 for tests.

The daemon runs as root (we are root in the test container) with its own
config, host key and pid file under ``base_dir``; it never touches the
system sshd or ``/etc/ssh``. Tests log in as a dedicated non-root user
because OpenSSH refuses channel signals to root sessions.

This is a plain module (no Django, no pytest imports) so it can be used from
any conftest. Typical use::

    # tests/conftest.py
    import pytest

    from tests.sshd import SshServer, start_sshd

    @pytest.fixture(scope="session")
    def sshd(tmp_path_factory: pytest.TempPathFactory):
        server: SshServer = start_sshd(tmp_path_factory.mktemp("sshd"))
        yield server
        server.close()  # stop daemon, kill sessions, remove installed keys

    # in a test
    async def test_x(sshd):
        conn = await asyncssh.connect(
            sshd.host, port=sshd.port, username=sshd.username,
            client_keys=[asyncssh.import_private_key(sshd.private_key_text)],
            known_hosts=None, agent_path=None, config=None,
        )

Behaviour worth knowing:

* ``stop()`` stops only the listening daemon; already-open connections keep
  working, like ``systemctl restart ssh`` on a real host. Use ``kill()`` to
  drop them too.
* ``kill()`` SIGKILLs the daemon and every process still in its tree
  (per-connection sshd processes and the commands they run). Processes that
  detached themselves (``nohup cmd &`` whose shell already exited) are not
  in the tree and survive, exactly as they would on a real network drop.
* Killed processes may linger as zombies (the container's init does not
  always reap), so ``pids_of_user()`` ignores zombies.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import pwd
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from tests.helpers import free_port, port_open, worker_name
from tests.proctree import _freeze_tree, _proc_table, _signal, _wait_dead, kill_trees, pids_with_marker

SSHD = "/usr/sbin/sshd"  # sshd re-execs itself, so it must be an absolute path
PRIVSEP_DIR = Path("/run/sshd")
READY_TIMEOUT = 10.0
# Parallel test processes (pytest-xdist workers, or two checkouts' test runs) add users and
# edit the same authorized_keys files (root's): each such change holds this lock, so no
# read-modify-write loses another's key and useradd/usermod never meet a locked /etc/passwd.
ACCOUNTS_LOCK = Path("/tmp/livchat-test-accounts.lock")

# Servers that are still running, stopped at interpreter exit so a crashed or
# interrupted test run does not leave daemons behind.
_live_servers: set[SshServer] = set()


@dataclass(eq=False)
class SshServer:
    host: str
    port: int
    username: str
    private_key_path: Path
    private_key_text: str
    public_key_text: str
    host_key_paths: list[Path]
    workdir: Path
    config_path: Path
    log_path: Path
    root_key_installed: bool = False
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """(Re)start the daemon on the same port and wait until logins work."""
        if self.is_running():
            return
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        _live_servers.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the listening daemon; established sessions are left alone."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._proc = None
        _live_servers.discard(self)

    def kill(self) -> None:
        """SIGKILL the daemon and all of its session processes (a hard drop)."""
        proc = self._proc
        if proc is None:
            return
        pids = _freeze_tree(proc.pid)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        proc.wait()
        _wait_dead(pids - {proc.pid})
        self._proc = None
        _live_servers.discard(self)

    def close(self) -> None:
        """Teardown: kill daemon and sessions, remove the keys we installed."""
        self.kill()
        public_key = self.public_key_text
        with _accounts_lock():
            _remove_authorized_key(_home(self.username) / ".ssh" / "authorized_keys", public_key)
            if self.root_key_installed:
                _remove_authorized_key(Path("/root/.ssh/authorized_keys"), public_key)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- simulations & inspection -----------------------------------------

    def regenerate_host_keys(self) -> None:
        """Replace the host keys; restart afterwards so clients see the change."""
        for path in self.host_key_paths:
            _keygen(path, comment="livchat-test-host")

    def run_local(self, cmd: str, *, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` with sh on this machine as the test user (no ssh)."""
        return subprocess.run(
            ["runuser", "-u", self.username, "--", "sh", "-c", cmd],
            cwd=_home(self.username),  # root's cwd may be unreadable for the user
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def pids_of_user(self) -> list[int]:
        """Pids of live (non-zombie) processes whose real uid is the test user."""
        uid = pwd.getpwnam(self.username).pw_uid
        return sorted(pid for pid, info in _proc_table().items() if info.uid == uid and info.state != "Z")

    def pids_with_marker(self, marker: str) -> set[int]:
        """The test user's live processes whose command line contains `marker`."""
        return pids_with_marker(marker, uid=pwd.getpwnam(self.username).pw_uid)

    def kill_marked(self, marker: str) -> set[int]:
        """SIGKILL the test user's processes that hold `marker` in their command line, with
        their children; returns the pids killed. Only what the test itself started."""
        return kill_trees(self.pids_with_marker(marker))

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ssh_command(self, remote_cmd: str) -> list[str]:
        """Argv for the OpenSSH client running ``remote_cmd`` as the test user."""
        return [
            "ssh",
            "-F", "/dev/null",  # ignore the system/user client config
            "-i", str(self.private_key_path),
            "-p", str(self.port),
            "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=5",
            "-o", "LogLevel=ERROR",
            f"{self.username}@{self.host}",
            remote_cmd,
        ]  # fmt: skip

    # -- internals ---------------------------------------------------------

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        last_error = "port never accepted a connection"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self._proc.returncode}:\n{self.log_text()}")
            if port_open(self.port, self.host):
                probe = subprocess.run(
                    self.ssh_command("true"),
                    check=False,
                    capture_output=True,
                    text=True,
                    timeout=READY_TIMEOUT,
                )
                if probe.returncode == 0:
                    return
                last_error = f"ssh probe failed ({probe.returncode}): {probe.stderr.strip()}"
            time.sleep(0.05)
        raise RuntimeError(f"sshd not ready after {READY_TIMEOUT}s: {last_error}\n{self.log_text()}")


def start_sshd(
    base_dir: Path,
    *,
    username: str = "livchat-test",
    allow_root: bool = False,
    password: str | None = None,
) -> SshServer:
    """Create the user and keys, write a config and start sshd on a free port.

    Under pytest-xdist the login user is the worker's own (``livchat-test-gw0``, see
    ``worker_name``): its processes, home and authorized_keys are not another worker's.

    Raises RuntimeError (with the sshd log) if the daemon cannot start.
    """
    username = worker_name(username)
    base_dir = Path(base_dir).resolve()
    base_dir.mkdir(parents=True, exist_ok=True)
    _ensure_user(username, password)
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)

    host_key = base_dir / "ssh_host_ed25519_key"
    _keygen(host_key, comment="livchat-test-host")
    user_key = base_dir / "id_ed25519"
    _keygen(user_key, comment=f"{username}@livchat-test")
    public_key = user_key.with_suffix(".pub").read_text().strip()

    user = pwd.getpwnam(username)
    with _accounts_lock():
        _append_authorized_key(Path(user.pw_dir) / ".ssh", public_key, user.pw_uid, user.pw_gid)
        if allow_root:
            _append_authorized_key(Path("/root/.ssh"), public_key, 0, 0)

    port = free_port()
    config = base_dir / "sshd_config"
    config.write_text(
        _sshd_config(
            port=port,
            host_keys=[host_key],
            pid_file=base_dir / "sshd.pid",
            allow_root=allow_root,
            password_auth=password is not None,
        )
    )
    _check_config(config)

    server = SshServer(
        host="127.0.0.1",
        port=port,
        username=username,
        private_key_path=user_key,
        private_key_text=user_key.read_text(),
        public_key_text=public_key,
        host_key_paths=[host_key],
        workdir=base_dir,
        config_path=config,
        log_path=base_dir / "sshd.log",
        root_key_installed=allow_root,
    )
    server.start()
    return server


# -- setup helpers -----------------------------------------------------------


class _accounts_lock:
    """An exclusive flock on ACCOUNTS_LOCK (blocking) for the duration of a ``with``."""

    def __enter__(self) -> None:
        self._fd = os.open(ACCOUNTS_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def _ensure_user(username: str, password: str | None) -> None:
    with _accounts_lock():
        try:
            pwd.getpwnam(username)
        except KeyError:
            _run_retrying(["useradd", "-m", "-s", "/bin/bash", username])
        # useradd leaves the password as "!" (locked); without PAM sshd then
        # refuses even key logins. "*" means "no valid password" but not locked.
        _run_retrying(["usermod", "-p", "*", username])
        if password is not None:
            _run_retrying(["chpasswd"], input=f"{username}:{password}\n")


def _keygen(path: Path, *, comment: str) -> None:
    for stale in (path, path.with_suffix(".pub")):
        stale.unlink(missing_ok=True)  # ssh-keygen prompts before overwriting
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def _append_authorized_key(ssh_dir: Path, public_key: str, uid: int, gid: int) -> None:
    """Add ``public_key`` to ssh_dir/authorized_keys, keeping existing lines."""
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    os.chown(ssh_dir, uid, gid)
    ssh_dir.chmod(0o700)
    keys_file = ssh_dir / "authorized_keys"
    existing = keys_file.read_text() if keys_file.exists() else ""
    if public_key not in existing.splitlines():
        if existing and not existing.endswith("\n"):
            existing += "\n"
        keys_file.write_text(f"{existing}{public_key}\n")
    os.chown(keys_file, uid, gid)
    keys_file.chmod(0o600)


def _remove_authorized_key(keys_file: Path, public_key: str) -> None:
    if not keys_file.exists():
        return
    lines = keys_file.read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.strip() != public_key]
    if kept != lines:
        keys_file.write_text("".join(kept))  # rewrite in place: owner/mode kept


def _sshd_config(
    *,
    port: int,
    host_keys: list[Path],
    pid_file: Path,
    allow_root: bool,
    password_auth: bool,
) -> str:
    yes_no = {True: "yes", False: "no"}
    lines = [
        "ListenAddress 127.0.0.1",
        f"Port {port}",
        *(f"HostKey {path}" for path in host_keys),
        f"PidFile {pid_file}",
        "AuthorizedKeysFile .ssh/authorized_keys",
        # Test homes/tmp dirs may have loose permissions; don't reject them.
        "StrictModes no",
        "UsePAM no",
        "PubkeyAuthentication yes",
        f"PasswordAuthentication {yes_no[password_auth]}",
        "KbdInteractiveAuthentication no",
        "PermitEmptyPasswords no",
        f"PermitRootLogin {'prohibit-password' if allow_root else 'no'}",
        # Tests open many parallel channels/connections from one address.
        "MaxSessions 100",
        "MaxStartups 200",
        "MaxAuthTries 20",
        "UseDNS no",  # no reverse lookups: faster logins
        "PrintMotd no",
        "PrintLastLog no",
        "AllowTcpForwarding yes",
        "X11Forwarding no",
        "LogLevel VERBOSE",
        "Subsystem sftp internal-sftp",
    ]
    if _sshd_supports("PerSourcePenalties=no"):
        # OpenSSH >= 9.8 would otherwise start refusing 127.0.0.1 after tests
        # that deliberately fail auth or drop connections.
        lines.append("PerSourcePenalties no")
    return "\n".join(lines) + "\n"


def _sshd_supports(option: str) -> bool:
    """Whether this sshd accepts ``option`` (unknown options are fatal)."""
    probe = subprocess.run(
        [SSHD, "-t", "-f", "/dev/null", "-o", option],
        check=False,
        capture_output=True,
        text=True,
    )
    error = probe.stderr.lower()
    return "bad configuration option" not in error and "unsupported option" not in error


def _check_config(config: Path) -> None:
    result = subprocess.run([SSHD, "-t", "-f", str(config)], check=False, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"invalid sshd config {config}:\n{result.stderr}")


def _home(username: str) -> Path:
    return Path(pwd.getpwnam(username).pw_dir)


def _run(argv: list[str], *, input: str | None = None) -> None:
    result = subprocess.run(argv, check=False, input=input, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({result.returncode}): {result.stderr}")


def _run_retrying(argv: list[str], *, input: str | None = None, timeout: float = 30.0) -> None:
    """`_run` for the shadow tools, which refuse while another process (a test run without
    our lock, the system) holds /etc/passwd's lock: retried until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _run(argv, input=input)
        except RuntimeError as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


@atexit.register
def _stop_leftover_servers() -> None:
    for server in list(_live_servers):
        server.kill()
