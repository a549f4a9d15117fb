"""One playbook run's private folder and its ansible-runner, set up so no secret is left behind.

$LIVCHAT_DATA_DIR/runner/<job_id>/ (0700) holds: ssh/key-N (0600, the servers' private keys,
re-exported without passphrase), ssh/known_hosts (the pinned host keys), inventory/,
env/settings, tmp/ (Ansible's local temp) and cp/ (OpenSSH control sockets). It is
deleted when the run ends; folders left by a worker that died are swept by the next run.
ansible-runner gets no password, key or env file (suppress_env_files), and the environment
it records in artifacts/<ident>/command is cut down to what Ansible needs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncssh
from django.conf import settings

from jobs import ansible_procs
from jobs.models import Job, JobStatus
from servers import ssh
from servers.models import Server

ENV_KEEP = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "SHELL"})
ENV_KEEP_PREFIXES = ("ANSIBLE_", "LC_", "AWX_", "RUNNER_", "ORIGINAL_STDOUT_CALLBACK")
SOCKET_PATH_MAX = 100  # AF_UNIX paths stop at 108 bytes; OpenSSH adds a 40-character name
_JOB_DIR_RE = re.compile(r"[a-z][a-z_]*-[0-9a-f]{8,32}")
SSH_OPTIONS = (
    "-F /dev/null -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o CheckHostIP=no "
    "-o UpdateHostKeys=no -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes"
)


def runner_base() -> Path:
    return Path(settings.DATA_DIR) / "runner"


@dataclass
class RunDir:
    path: Path
    control_dir: Path

    @classmethod
    def create(cls, job_id: str) -> RunDir:
        base = runner_base()
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = base / job_id
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(mode=0o700)
        control = path / "cp"
        if len(str(control)) > SOCKET_PATH_MAX - 41:
            # A deep data dir would make OpenSSH's control socket path too long.
            control = Path(tempfile.mkdtemp(prefix=f"lvc-{job_id[-8:]}-"))
        else:
            control.mkdir(mode=0o700)
        for sub in ("ssh", "tmp", "env"):
            (path / sub).mkdir(mode=0o700)
        return cls(path=path, control_dir=control)

    def write_inventory(self, hosts: list[tuple[Server, ssh.Target]]) -> dict:
        """The inventory (by server name) and a known_hosts file of the pinned keys."""
        known_hosts = self.path / "ssh" / "known_hosts"
        lines = []
        for _, target in hosts:
            pattern = target.host if target.port == 22 else f"[{target.host}]:{target.port}"
            for key in target.host_key.splitlines():
                parts = key.split()
                if len(parts) >= 2:
                    lines.append(f"{pattern} {parts[0]} {parts[1]}\n")
        known_hosts.write_text("".join(lines))
        common = f"{SSH_OPTIONS} -o UserKnownHostsFile={shlex.quote(str(known_hosts))}"
        inventory: dict[str, dict] = {}
        for i, (server, target) in enumerate(hosts):
            hostvars = {
                "ansible_host": target.host,
                "ansible_port": target.port,
                "ansible_user": target.username,
                "ansible_python_interpreter": server.python_interpreter or "auto_silent",
                "ansible_ssh_pipelining": True,
                "ansible_ssh_common_args": common,
            }
            if target.private_key:
                hostvars["ansible_ssh_private_key_file"] = str(self._write_key(i, target))
            inventory[server.name] = hostvars
        return {"all": {"hosts": inventory}}

    def _write_key(self, index: int, target: ssh.Target) -> Path:
        # Re-exported without its passphrase: ssh must not stop to ask for one.
        key = asyncssh.import_private_key(target.private_key, target.passphrase or None)
        path = self.path / "ssh" / f"key-{index}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.export_private_key("openssh"))
        return path

    def remove(self) -> list[int]:
        """Stop what the run left running, delete the folder; the pids that would not die."""
        alive = ansible_procs.stop_processes(str(self.control_dir))
        alive += ansible_procs.stop_processes(str(self.path))
        if getattr(settings, "LIVCHAT_KEEP_RUNNER_ARTIFACTS", False):
            # For debugging: keep what Ansible wrote, never the keys or sockets.
            shutil.rmtree(self.path / "ssh", ignore_errors=True)
        else:
            shutil.rmtree(self.path, ignore_errors=True)
        shutil.rmtree(self.control_dir, ignore_errors=True)
        return alive


def sweep_stale_dirs(*, keep: str = "") -> list[str]:
    """Delete the private folders of jobs that no longer run (their worker died); their names."""
    base = runner_base()
    if not base.is_dir() or getattr(settings, "LIVCHAT_KEEP_RUNNER_ARTIFACTS", False):
        return []
    names = [p.name for p in base.iterdir() if p.is_dir() and p.name != keep and _JOB_DIR_RE.fullmatch(p.name)]
    if not names:
        return []
    live = set(
        Job.objects.filter(job_id__in=names, status__in=[JobStatus.PENDING, JobStatus.RUNNING]).values_list(
            "job_id", flat=True
        )
    )
    stale = [name for name in names if name not in live]
    for name in stale:
        ansible_procs.stop_processes(str(base / name))
        shutil.rmtree(base / name, ignore_errors=True)
    return stale


def init_runner(
    *,
    rundir: RunDir,
    playbook: Path,
    inventory: dict,
    extra_vars: dict,
    check: bool,
    forks: int,
    event_handler: Callable[[dict], bool],
    cancel_callback: Callable[[], bool],
    poll_seconds: float,
):
    """An ansible_runner Runner, ready to `.run()` in a thread."""
    from ansible_runner.interface import init_runner as runner_for

    envvars = {
        # ansible-playbook lives next to this interpreter (the venv), maybe not on PATH.
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "/usr/bin:/bin")]),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(rundir.control_dir),
        "ANSIBLE_LOCAL_TEMP": str(rundir.path / "tmp"),
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
    }
    if not any(os.environ.get(k) for k in ("LC_ALL", "LC_CTYPE", "LANG")):
        envvars["LC_CTYPE"] = "C.UTF-8"  # ansible-core refuses a non-UTF-8 locale
    # Runner settings must be a file: ansible-runner 2.4 drops a `settings=` argument when
    # env/settings is missing. pexpect_timeout is how often the runner asks cancel_callback.
    (rundir.path / "env" / "settings").write_text(
        json.dumps({"suppress_output_file": True, "pexpect_timeout": poll_seconds})
    )
    runner = runner_for(
        private_data_dir=str(rundir.path),
        project_dir=str(playbook.parent),
        playbook=playbook.name,
        inventory=inventory,
        extravars=extra_vars or None,
        envvars=envvars,
        forks=forks,
        cmdline="--check --diff" if check else None,
        ident="run",
        quiet=True,
        suppress_env_files=True,
        event_handler=event_handler,
        cancel_callback=cancel_callback,
    )
    runner.config.env = scrubbed_env(runner.config.env)
    return runner


def scrubbed_env(env: dict) -> dict:
    # ansible-runner starts from the whole worker environment and writes it to
    # artifacts/<ident>/command: keep only what Ansible needs (no DJANGO_SECRET_KEY,
    # DATABASE_URL, LIVCHAT_CREDENTIAL_KEY, agent socket...).
    return {k: v for k, v in env.items() if k in ENV_KEEP or k.startswith(ENV_KEEP_PREFIXES)}
