"""A real daphne process serving this test's database (for websocket and fuzzing tests)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from tests.helpers import free_port, port_open, stop_process_group, wait_for


@dataclass(frozen=True)
class Daphne:
    proc: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def running_daphne(env: dict) -> Iterator[Daphne]:
    """daphne on a free loopback port with `env` (see the `subprocess_env` fixture); stopped after."""
    port = free_port()
    env = dict(env, DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "livchat.asgi:application"],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: proc.poll() is not None or port_open(port), timeout=30, message="daphne to listen")
        assert proc.poll() is None, f"daphne exited with {proc.returncode}"
        yield Daphne(proc=proc, port=port)
    finally:
        stop_process_group(proc, timeout=15)
