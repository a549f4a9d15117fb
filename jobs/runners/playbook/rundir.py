"""One playbook run's private folder and its ansible-runner, set up so no secret is left behind.

$LIVCHAT_DATA_DIR/runner/<job_id>/ (0700) holds: ssh/key-N (0600, the servers' private keys,
re-exported without passphrase), ssh/known_hosts (the pinned host keys), inventory/hosts.yml,
env/extravars (0600), env/settings, tmp/ (Ansible's local temp) and cp/ (OpenSSH control
sockets). It is deleted when the run ends; folders left by a worker that died are swept by
the next run, by the reaper and by `serve` at start-up (sweep_stale_dirs).
ansible-runner gets no password, key or env file (suppress_env_files), and the environment
it records in artifacts/<ident>/command is cut down to what Ansible needs.

Nothing a request sends is templated here: every string of the extra vars and every inventory
value built from a server record is written with YAML's `!unsafe` tag, so Ansible passes
`{{ lookup('pipe', ...) }}` on as that literal text instead of running it on this host
(AWX's ALLOW_JINJA_IN_EXTRA_VARS=False). settings.ALLOW_JINJA_IN_EXTRA_VARS (env
LIVCHAT_ALLOW_JINJA_IN_EXTRA_VARS) turns templating of extra vars back on: dangerous.
"""

from __future__ import annotations

import hashlib
import json
import logging
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
import yaml
from django.conf import settings

from jobs.models import Job, JobStatus, JobType
from jobs.runners.playbook import processes
from servers import ssh
from servers.models import Server

logger = logging.getLogger("jobs.playbook")

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


def _control_prefix() -> str:
    # Control-socket folders go to the temp dir when the data dir is too deep for a socket
    # path. The tag of our data dir keeps the sweep away from another install's folders.
    return f"lvc-{hashlib.sha256(str(runner_base()).encode()).hexdigest()[:6]}-"


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
            control = Path(tempfile.mkdtemp(prefix=f"{_control_prefix()}{job_id[-8:]}-"))
        else:
            control.mkdir(mode=0o700)
        for sub in ("ssh", "tmp", "env"):
            (path / sub).mkdir(mode=0o700)
        return cls(path=path, control_dir=control)

    def write_inventory(self, hosts: list[tuple[Server, ssh.Target]]) -> str:
        """The inventory file (hosts by server name, every text value `!unsafe`) and a
        known_hosts file of the pinned keys; returns the inventory's path."""
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
            inventory[server.name] = mark_unsafe(hostvars)
        folder = self.path / "inventory"
        folder.mkdir(mode=0o700, exist_ok=True)
        path = folder / "hosts.yml"
        _write_private(path, dump_yaml({"all": {"hosts": inventory}}))
        return str(path)

    def write_extra_vars(self, extra_vars: dict, *, allow_jinja: bool = False) -> Path:
        """env/extravars (0600), which ansible-runner hands over as `-e @env/extravars`: every
        string `!unsafe` unless `allow_jinja`. A file, not the command line: `ps` never shows it."""
        path = self.path / "env" / "extravars"
        _write_private(path, dump_yaml(extra_vars if allow_jinja else mark_unsafe(extra_vars)))
        return path

    def _write_key(self, index: int, target: ssh.Target) -> Path:
        # Re-exported without its passphrase: ssh must not stop to ask for one.
        key = asyncssh.import_private_key(target.private_key, target.passphrase or None)
        path = self.path / "ssh" / f"key-{index}"
        _write_private(path, key.export_private_key("openssh"))
        return path

    def remove(self) -> list[int]:
        """Stop what the run left running, delete the folder; the pids that would not die."""
        alive = processes.stop_processes(str(self.control_dir))
        alive += processes.stop_processes(str(self.path))
        if getattr(settings, "LIVCHAT_KEEP_RUNNER_ARTIFACTS", False):
            # For debugging: keep what Ansible wrote, never the keys or sockets.
            shutil.rmtree(self.path / "ssh", ignore_errors=True)
        else:
            shutil.rmtree(self.path, ignore_errors=True)
        shutil.rmtree(self.control_dir, ignore_errors=True)
        return alive


def sweep_stale_dirs(*, keep: str = "") -> list[str]:
    """Delete the private folders of jobs that no longer run: final, unknown, or whose worker died
    and was reaped. Stops what such a run left running (ssh masters). Returns the job ids swept.

    With LIVCHAT_KEEP_RUNNER_ARTIFACTS only the ssh/ subfolder (keys, known_hosts) goes.
    """
    base = runner_base()
    names = []
    if base.is_dir():
        names = [p.name for p in base.iterdir() if p.name != keep and _JOB_DIR_RE.fullmatch(p.name)]
    controls = _control_dirs()
    if not names and not controls:
        return []
    live_ids = (
        Job.objects.filter(status__in=[JobStatus.PENDING, JobStatus.RUNNING]).filter(job_id__in=names)
        if names
        else Job.objects.none()
    )
    live = set(live_ids.values_list("job_id", flat=True))
    keep_artifacts = getattr(settings, "LIVCHAT_KEEP_RUNNER_ARTIFACTS", False)
    stale = [n for n in names if n not in live and (not keep_artifacts or (base / n / "ssh").exists())]
    for name in stale:
        folder = base / name
        processes.stop_processes(str(folder))
        if keep_artifacts:
            shutil.rmtree(folder / "ssh", ignore_errors=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    _sweep_control_dirs(controls, keep=keep)
    if stale:
        logger.info("Swept the private folders of %d finished or lost playbook run(s)", len(stale))
    return stale


def _control_dirs() -> dict[str, list[Path]]:
    """Our control-socket folders in the temp dir (see RunDir.create), by job id suffix."""
    found: dict[str, list[Path]] = {}
    try:
        entries = list(os.scandir(tempfile.gettempdir()))
    except OSError:
        return found
    uid = os.getuid()
    pattern = re.compile(re.escape(_control_prefix()) + r"([0-9a-f]{8})-[A-Za-z0-9_]+")
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        try:
            if match and entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_uid == uid:
                found.setdefault(match.group(1), []).append(Path(entry.path))
        except OSError:
            continue
    return found


def _sweep_control_dirs(controls: dict[str, list[Path]], *, keep: str) -> None:
    if not controls:
        return
    live = {
        job_id[-8:]
        for job_id in Job.objects.filter(
            status__in=[JobStatus.PENDING, JobStatus.RUNNING], job_type=JobType.PLAYBOOK
        ).values_list("job_id", flat=True)
    }
    if keep:
        live.add(keep[-8:])
    for suffix, folders in controls.items():
        if suffix in live:
            continue
        for folder in folders:
            processes.stop_processes(str(folder))
            shutil.rmtree(folder, ignore_errors=True)


# ---- YAML that Ansible never templates ------------------------------------------------------
class _Unsafe(str):
    """Text Ansible must pass on as is: written with the `!unsafe` tag."""

    __slots__ = ()


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Unsafe, lambda dumper, value: dumper.represent_scalar("!unsafe", str(value)))


def mark_unsafe(value):
    """`value` with every string (dict keys included), at any depth, marked `!unsafe`."""
    if isinstance(value, str):
        return _Unsafe(value)
    if isinstance(value, dict):
        return {mark_unsafe(k): mark_unsafe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mark_unsafe(v) for v in value]
    return value


def dump_yaml(data) -> str:
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, default_flow_style=False)


def _write_private(path: Path, content: str | bytes) -> None:
    """A new file only we can read (0600 from the start, never world-readable for a moment)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def init_runner(
    *,
    rundir: RunDir,
    playbook: Path,
    inventory: str,
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
    if extra_vars:
        rundir.write_extra_vars(extra_vars, allow_jinja=allow_jinja_in_extra_vars())
    # Runner settings must be a file: ansible-runner 2.4 drops a `settings=` argument when
    # env/settings is missing. pexpect_timeout is how often the runner asks cancel_callback.
    (rundir.path / "env" / "settings").write_text(
        json.dumps({"suppress_output_file": True, "pexpect_timeout": poll_seconds})
    )
    runner = runner_for(
        private_data_dir=str(rundir.path),
        project_dir=str(playbook.parent),
        playbook=playbook.name,
        inventory=inventory,  # a path: ansible-runner would write a dict as JSON, without !unsafe
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


def allow_jinja_in_extra_vars() -> bool:
    return bool(getattr(settings, "ALLOW_JINJA_IN_EXTRA_VARS", False))


def scrubbed_env(env: dict) -> dict:
    # ansible-runner starts from the whole worker environment and writes it to
    # artifacts/<ident>/command: keep only what Ansible needs (no DJANGO_SECRET_KEY,
    # DATABASE_URL, LIVCHAT_CREDENTIAL_KEY, agent socket...).
    return {k: v for k, v in env.items() if k in ENV_KEEP or k.startswith(ENV_KEEP_PREFIXES)}
