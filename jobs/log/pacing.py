"""How live readers share the machine with the job they follow.

A reader behind a flood (`--follow`, the websocket feed of a job) would read batch after
batch without a pause and take a whole core, one the job's own writer needs on a small
machine: the writer then stores fewer lines a second because someone watches
(bench/readers.py). So, while the job is running, a reader that has worked WORK_SLICE
without a pause rests as long as it worked: at most about half a core. A trickle never
works that long, so it is never slowed; a finished job's log is read flat out.
"""

from __future__ import annotations

import time

WORK_SLICE = 0.05
REST_PER_WORK = 1.0


class Pacer:
    def __init__(self) -> None:
        self.since = time.monotonic()

    def restart(self) -> None:
        """The reader paused on its own (waiting for new rows): its work starts again now."""
        self.since = time.monotonic()

    def rest_due(self) -> float:
        """Seconds to rest now (0.0 while the current stretch of work is short)."""
        worked = time.monotonic() - self.since
        if worked < WORK_SLICE:
            return 0.0
        self.since = time.monotonic() + worked * REST_PER_WORK  # work resumes after the rest
        return worked * REST_PER_WORK
