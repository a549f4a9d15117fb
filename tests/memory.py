"""The peak memory a call takes, from Linux's own accounting of this process.

Writing "5" to /proc/self/clear_refs resets VmHWM (the peak resident set) to the current
resident set; VmHWM after the call, less VmRSS before it, is how far the call grew the
process at its worst moment, in every thread (a search runs in a thread pool under MCP).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")
MB = 1024 * 1024


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def peak_growth(call: Callable[[], T]) -> tuple[T, int]:
    """(what call() returned, bytes the peak resident set grew by while it ran)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError as exc:  # not Linux, or a kernel without the peak reset: the bound goes unchecked
        pytest.fail(f"cannot reset the peak resident set (/proc/self/clear_refs): {exc}")
    before = _status_kb("VmRSS")
    result = call()
    return result, (_status_kb("VmHWM") - before) * 1024
