"""The embedded all-in-one: migrate, then daphne (web + websockets) and a django-q2
cluster (jobs) started together and stopped together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from jobs.reaper import startup_cleanup
from jobs.schedules import ensure_schedules

STOP_GRACE_SECONDS = 10


class Command(BaseCommand):
    help = "Run LivChat: web server (daphne) and job worker (django-q2 qcluster) together."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("LIVCHAT_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("LIVCHAT_PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="web only (workers run elsewhere)")
        parser.add_argument("--no-web", action="store_true", help="worker only (with --no-worker: prepare and exit)")
        parser.add_argument("--skip-migrate", action="store_true")

    def handle(self, *args, host, port, no_worker, no_web, skip_migrate, **options):
        if not 1 <= port <= 65535:
            raise CommandError("--port must be between 1 and 65535.")
        if not skip_migrate:
            call_command("migrate", interactive=False, verbosity=0)

        ensure_schedules()
        # Jobs that died with a previous run, and the playbook folders (key files) they left.
        self.stdout.write(f"Start-up cleanup: {startup_cleanup()}.")
        if no_worker and no_web:
            return  # nothing to start: only the preparation above (migrate, schedules, cleanup)
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        children: dict[str, subprocess.Popen] = {}
        if not no_worker:
            children["worker"] = subprocess.Popen([*manage, "qcluster"], start_new_session=True)
        if not no_web:
            children["web"] = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "livchat.asgi:application"],
                start_new_session=True,
            )
            shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
            self.stdout.write(self.style.SUCCESS(f"LivChat is running at http://{shown}:{port}/  (Ctrl-C stops it)"))
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for name, proc in children.items():
                if proc.poll() is not None:
                    self.stderr.write(f"The {name} process exited with code {proc.returncode}; stopping.")
                    exit_code = proc.returncode or 1
                    stopping = True
            time.sleep(0.2)
        _stop_all(children.values())
        if exit_code:
            raise CommandError(f"stopped because a process exited (code {exit_code}).", returncode=exit_code)


def _stop_all(procs) -> None:
    """SIGTERM each child's whole process group (q2 forks its workers), SIGKILL stragglers.

    Each child runs in its own session, so Ctrl-C reaches only us and we stop them in order;
    signalling the group makes sure no q2 worker outlives `serve`.
    """
    procs = list(procs)
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        _signal_group(proc, signal.SIGKILL)  # leftovers of the group, if any
        proc.wait()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
