"""How a reader paces itself behind a running job's flood (jobs/log/pacing.py): truly behind
(BEHIND_BATCHES full batches in a row) it rests as long as it worked, in CPU, so it takes at
most about half a core; a reader caught up, or less than a batch behind, is never rested, and
time spent waiting (for the database, a client's acks, the send) is never counted as work."""

from __future__ import annotations

import pytest

from jobs.log import pacing
from jobs.log.pacing import BEHIND_BATCHES, REST_PER_WORK, WORK_SLICE, Pacer


def test_the_rule():
    assert WORK_SLICE == 0.05 and REST_PER_WORK == 1.0 and BEHIND_BATCHES == 3


def test_a_reader_that_is_not_behind_is_never_rested_however_much_it_worked():
    pacer = Pacer()
    for _ in range(1000):
        assert pacer.rest_after(full=False, work=10.0) == 0.0


def test_a_joiner_catching_up_two_batches_then_live_is_never_rested():
    # The catch-up of a viewer that opens a running job: a backlog of under BEHIND_BATCHES
    # batches, then batches that are not full (it is live): no rest, whatever each cost.
    pacer = Pacer()
    rests = [pacer.rest_after(full=True, work=0.2) for _ in range(BEHIND_BATCHES - 1)]
    rests += [pacer.rest_after(full=False, work=0.2) for _ in range(50)]
    assert set(rests) == {0.0}


def test_waiting_is_not_work():
    # Only the CPU the caller measured counts: a batch that cost 1 ms of CPU after a 2 s wait
    # for a client's acks is 1 ms of work. (The old wall-clock pacer rested the 2 s.)
    pacer = Pacer()
    rests = [pacer.rest_after(full=True, work=0.001) for _ in range(BEHIND_BATCHES + 5)]
    assert set(rests) == {0.0}, "8 ms of work in all: less than a slice"


def test_truly_behind_it_rests_as_long_as_it_worked_once_it_worked_a_slice():
    pacer = Pacer()
    rests = [pacer.rest_after(full=True, work=0.03) for _ in range(6)]
    # batches 1-2: not yet behind (their work is counted); 3: behind, 0.09 owed; 4: 0.03 (< a
    # slice); 5: 0.06 owed; 6: 0.03
    assert rests == pytest.approx([0.0, 0.0, 0.09, 0.0, 0.06, 0.0])


def test_catching_up_forgets_what_was_owed():
    pacer = Pacer()
    for _ in range(BEHIND_BATCHES):
        pacer.rest_after(full=True, work=WORK_SLICE * 0.9)
    assert pacer.rest_after(full=False, work=0.0) == 0.0
    assert pacer.rest_after(full=True, work=WORK_SLICE * 5) == 0.0, "behind again: counting starts over"


def test_a_restart_forgets_too():
    pacer = Pacer()
    for _ in range(BEHIND_BATCHES):
        pacer.rest_after(full=True, work=0.01)
    pacer.restart()
    assert [pacer.rest_after(full=True, work=1.0) for _ in range(BEHIND_BATCHES - 1)] == [0.0, 0.0]


def test_the_rest_follows_rest_per_work(monkeypatch):
    monkeypatch.setattr(pacing, "REST_PER_WORK", 0.5)
    pacer = Pacer()
    rests = [pacer.rest_after(full=True, work=0.4) for _ in range(BEHIND_BATCHES)]
    assert rests[-1] == pytest.approx(0.6), "three batches of 0.4 s work: 1.2 s, half of it"


@pytest.mark.parametrize("batch", [0.001, 0.01, 0.049, 0.05, 0.2])
def test_a_reader_behind_a_long_flood_takes_at_most_about_half_a_core(batch):
    pacer, worked, rested = Pacer(), 0.0, 0.0
    for _ in range(5000):
        worked += batch
        rested += pacer.rest_after(full=True, work=batch)
    assert worked / (worked + rested) == pytest.approx(1 / (1 + REST_PER_WORK), abs=0.01)
