"""How live readers share the machine with the job they follow.

A reader behind a flood (`--follow`, the websocket feed of a job) would read batch after
batch without a pause and take a whole core, one the job's own writer needs on a small
machine: the writer then stores fewer lines a second because someone watches
(bench/readers.py). So a reader that is truly behind a running job's flood rests as long as
it worked: at most about half a core.

Truly behind means BEHIND_BATCHES full batches in a row (thousands of lines of backlog); a
batch that is not full means the reader caught up, and a reader caught up, or less than a
batch behind, is never rested: a viewer who opens a running job gets what is there, then
goes live. And "worked" is CPU the reader spent (`time.thread_time()` around its reads and
its encoding), never time spent waiting: for the database, for a client's acks, for the
send. A wall-clock measure rested a viewer catching up for as long as it had waited for its
client, while the job was only trickling (issue 22). A finished job's log is read flat out.
"""

from __future__ import annotations

WORK_SLICE = 0.05  # CPU seconds of work behind a flood before a rest is due
REST_PER_WORK = 1.0
BEHIND_BATCHES = 3


class Pacer:
    def __init__(self) -> None:
        self.full_in_a_row = 0
        self.work = 0.0

    def restart(self) -> None:
        """The reader caught up or paused on its own (waiting for new rows): nothing is owed."""
        self.full_in_a_row = 0
        self.work = 0.0

    def rest_after(self, *, full: bool, work: float) -> float:
        """Seconds to rest after a batch that cost `work` CPU seconds; `full`: it was a whole
        batch (more rows wait), else the reader caught up and is never rested."""
        if not full:
            self.restart()
            return 0.0
        self.full_in_a_row += 1
        self.work += work
        if self.full_in_a_row < BEHIND_BATCHES or self.work < WORK_SLICE:
            return 0.0
        rest, self.work = self.work * REST_PER_WORK, 0.0
        return rest
