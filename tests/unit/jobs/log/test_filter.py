"""The line filter of --follow, job_logs and the API: parse_filter and LineFilter.select
(level minimum, stream, a regular expression under a time budget)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from jobs.log import filters, pattern_guard
from jobs.log.filters import LineFilter, parse_filter
from jobs.log.pattern_guard import MAX_PATTERN_LENGTH, LogQueryError

ROWS = [
    {"seq": 1, "level": "DEBUG", "stream": "stdout", "message": "debug detail"},
    {"seq": 2, "level": "INFO", "stream": "stdout", "message": "deploy started"},
    {"seq": 3, "level": "WARNING", "stream": "stderr", "message": "disk almost full"},
    {"seq": 4, "level": "ERROR", "stream": "stderr", "message": "deploy failed: exit 2"},
    {"seq": 5, "level": "CRITICAL", "stream": "system", "message": "Worker lost"},
    {"seq": 6, "level": "INFO", "stream": "system", "message": "$ ./deploy.sh"},
]
PATHOLOGICAL = r"(a+)+$"  # exponential backtracking on "aaaa…!"


def seqs(flt: LineFilter, rows=ROWS) -> list[int]:
    return [r["seq"] for r in flt.select(rows)]


# ---- parse_filter ----------------------------------------------------------------------------------
def test_no_filter_keeps_every_row_as_it_is():
    flt = parse_filter(level="", stream="", q="")
    assert flt == LineFilter()
    assert flt.select(ROWS) is ROWS


@pytest.mark.parametrize("given", ["warning", "WARNING", "Warning"])
def test_level_is_a_minimum_and_case_insensitive(given):
    flt = parse_filter(level=given)
    assert flt.level == "WARNING"
    assert flt.levels() == ["WARNING", "ERROR", "CRITICAL"]
    assert seqs(flt) == [3, 4, 5]


def test_debug_is_the_lowest_level_and_keeps_everything():
    assert seqs(parse_filter(level="debug")) == [1, 2, 3, 4, 5, 6]


def test_stream_keeps_that_stream_only():
    assert seqs(parse_filter(stream="system")) == [5, 6]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": "loud"}, "level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL."),
        ({"stream": "STDOUT"}, "stream must be one of stdout, stderr, system."),
        (
            {"q": "x" * (MAX_PATTERN_LENGTH + 1)},
            f"Too long a regular expression: more than {MAX_PATTERN_LENGTH} characters.",
        ),
        ({"q": "deploy("}, "Not a valid regular expression"),
    ],
)
def test_a_bad_filter_says_how_to_fix_it(kwargs, message):
    with pytest.raises(LogQueryError) as caught:
        parse_filter(**kwargs)
    assert str(caught.value).startswith(message)


def test_the_longest_pattern_allowed_is_accepted():
    assert parse_filter(q="x" * MAX_PATTERN_LENGTH).pattern is not None


@pytest.mark.parametrize("q", [r"\Adeploy", r"exit \d\Z", r"(?<=deploy )failed", r"deploy(?= started)", r"(?!x)y"])
def test_line_sensitive_patterns_are_not_searched_across_joined_lines(q):
    flt = parse_filter(q=q)
    assert flt.pattern is not None and flt.joined is None


def test_other_patterns_get_a_multiline_twin_for_joined_lines():
    flt = parse_filter(q=r"^deploy \w+$")
    assert flt.joined is not None and flt.joined.search("x\ndeploy started\ny")
    assert flt.pattern.search("x\ndeploy started\ny") is None  # the single-line one is not MULTILINE


# ---- select: the regular expression ---------------------------------------------------------------------
def test_the_pattern_searches_anywhere_in_the_message_case_sensitively():
    assert seqs(parse_filter(q="deploy")) == [2, 4, 6]
    assert seqs(parse_filter(q="Deploy")) == []
    assert seqs(parse_filter(q=r"exit \d+$")) == [4]


def test_level_stream_and_pattern_must_all_match():
    assert seqs(parse_filter(level="error", stream="stderr", q="deploy")) == [4]
    assert seqs(parse_filter(level="info", stream="system", q="deploy")) == [6]
    assert seqs(parse_filter(level="error", stream="stdout", q="deploy")) == []


def test_a_pattern_over_its_time_budget_ends_with_a_clear_error(monkeypatch):
    monkeypatch.setattr(pattern_guard, "REGEX_BUDGET_SECONDS", 0.05)
    rows = [{"seq": 1, "level": "INFO", "stream": "stdout", "message": "a" * 5000 + "!"}]
    started = time.monotonic()
    with pytest.raises(LogQueryError) as caught:
        parse_filter(q=PATHOLOGICAL).select(rows)
    assert time.monotonic() - started < 2  # stopped at the budget, not after the backtracking
    assert "0.05 s" in str(caught.value) and "simpler" in str(caught.value)


def test_the_same_pattern_on_a_harmless_line_is_fine():
    rows = [{"seq": 1, "level": "INFO", "stream": "stdout", "message": "aaaa"}]
    assert seqs(parse_filter(q=PATHOLOGICAL), rows) == [1]


def test_the_budget_covers_the_whole_batch_not_each_line(monkeypatch):
    # A clock that moves one second per reading: with a 2 s budget the first line is searched
    # (1 s left), the second is not (0 s left). A budget per line would search every line.
    ticks = iter(range(1000))
    clock = SimpleNamespace(monotonic=lambda: float(next(ticks)))
    for module in (filters, pattern_guard):  # the budget starts in one, is checked in the other
        monkeypatch.setattr(module, "time", clock)
    monkeypatch.setattr(pattern_guard, "REGEX_BUDGET_SECONDS", 2.0)
    flt = parse_filter(q="deploy")
    with pytest.raises(LogQueryError):
        flt.select(ROWS)
    assert seqs(flt, ROWS[1:2]) == [2]  # one line fits in the budget
