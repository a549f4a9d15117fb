"""How a reader paces itself behind a running job's flood (jobs/log/pacing.py): once it has worked
WORK_SLICE without a pause it rests as long as it worked, so it takes at most about half a core;
a trickle, or a reader that pauses on its own, is never slowed.

Pacer reads `time.monotonic()` itself (it takes no clock), so the tests give the module a fake
`time` whose clock only moves when the test moves it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from jobs.log import pacing
from jobs.log.pacing import REST_PER_WORK, WORK_SLICE, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0  # so that 0.05 - 0.0 is exactly WORK_SLICE

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(pacing, "time", SimpleNamespace(monotonic=fake))
    return fake


def test_the_rule_is_a_fiftieth_of_work_then_as_long_a_rest():
    assert WORK_SLICE == 0.05 and REST_PER_WORK == 1.0


def test_a_fresh_reader_owes_no_rest(clock):
    assert Pacer().rest_due() == 0.0


@pytest.mark.parametrize("worked", [0.0, 0.001, WORK_SLICE / 2, WORK_SLICE - 1e-6])
def test_work_shorter_than_a_slice_is_never_slowed(clock, worked):
    pacer = Pacer()
    clock.advance(worked)
    assert pacer.rest_due() == 0.0
    assert pacer.rest_due() == 0.0, "asking again changes nothing"


@pytest.mark.parametrize("worked", [WORK_SLICE, 0.08, 0.5, 3.0])  # from 0.0: exactly a slice rests
def test_after_a_slice_of_work_the_rest_is_as_long_as_the_work(clock, worked):
    pacer = Pacer()
    clock.advance(worked)
    assert pacer.rest_due() == pytest.approx(worked * REST_PER_WORK)


def test_the_rest_counts_as_a_pause_work_restarts_after_it(clock):
    pacer = Pacer()
    clock.advance(0.2)
    rest = pacer.rest_due()
    assert rest == pytest.approx(0.2)
    assert pacer.rest_due() == 0.0, "asked again before resting: nothing more is due"
    clock.advance(rest)  # the reader rests
    clock.advance(WORK_SLICE * 0.9)
    assert pacer.rest_due() == 0.0, "most of a slice of new work"
    clock.advance(WORK_SLICE * 0.2)
    assert pacer.rest_due() == pytest.approx(WORK_SLICE * 1.1), "a new slice, counted from the end of the rest"


def test_a_reader_that_skips_its_rest_is_not_charged_twice(clock):
    pacer = Pacer()
    clock.advance(0.1)
    assert pacer.rest_due() == pytest.approx(0.1)
    clock.advance(0.05)  # went on working instead of resting: still inside the rest it was given
    assert pacer.rest_due() == 0.0
    clock.advance(0.05 + WORK_SLICE * 1.1)  # more than a slice past the end of that rest
    assert pacer.rest_due() == pytest.approx(WORK_SLICE * 1.1)


def test_a_restart_forgets_the_work_before_a_pause_of_its_own(clock):
    pacer = Pacer()
    clock.advance(WORK_SLICE * 0.9)
    pacer.restart()  # waited for new rows
    clock.advance(WORK_SLICE * 0.9)
    assert pacer.rest_due() == 0.0
    clock.advance(WORK_SLICE * 0.2)
    assert pacer.rest_due() == pytest.approx(WORK_SLICE * 1.1)


def test_without_a_restart_a_pause_counts_as_work(clock):
    # The pacer cannot tell a pause from work: a reader must call restart() after waiting.
    pacer = Pacer()
    clock.advance(WORK_SLICE * 0.9)
    clock.advance(5.0)  # waited, but did not say so
    assert pacer.rest_due() == pytest.approx(5.0 + WORK_SLICE * 0.9)


def test_the_rest_follows_rest_per_work(clock, monkeypatch):
    monkeypatch.setattr(pacing, "REST_PER_WORK", 0.5)
    pacer = Pacer()
    clock.advance(0.4)
    assert pacer.rest_due() == pytest.approx(0.2)
    clock.advance(0.2 + WORK_SLICE * 0.9)
    assert pacer.rest_due() == 0.0, "work resumes when the shorter rest ends"


def _busy_share(clock: Clock, *, batch: float, pause: float, batches: int, restart: bool) -> float:
    """Share of the time a reader works: each batch takes `batch`, then it waits `pause` for rows."""
    pacer, start, worked = Pacer(), clock.now, 0.0
    for _ in range(batches):
        clock.advance(batch)
        worked += batch
        clock.advance(pacer.rest_due())
        if pause:
            clock.advance(pause)
            if restart:
                pacer.restart()
    return worked / (clock.now - start)


@pytest.mark.parametrize("batch", [0.001, 0.01, 0.049, 0.05, 0.2])
def test_a_reader_behind_a_flood_takes_at_most_about_half_a_core(clock, batch):
    share = _busy_share(clock, batch=batch, pause=0.0, batches=2000, restart=False)
    assert share == pytest.approx(1 / (1 + REST_PER_WORK), abs=0.005)


def test_a_trickle_is_never_slowed(clock):
    rests: list[float] = []
    pacer = Pacer()
    for _ in range(1000):
        clock.advance(0.002)  # a batch of a few lines
        rests.append(pacer.rest_due())
        clock.advance(0.5)  # waiting for the next lines
        pacer.restart()
    assert set(rests) == {0.0}


def test_a_reader_whose_batches_each_fill_a_slice_rests_after_every_batch(clock):
    pacer = Pacer()
    rests = []
    for _ in range(5):
        clock.advance(WORK_SLICE * 2)
        rests.append(pacer.rest_due())
        clock.advance(rests[-1])
    assert rests == pytest.approx([WORK_SLICE * 2] * 5)
