"""The byte budget of an agent's answer (livchat/mcp/budget.py): ANSI escapes stripped, each line
cut at a byte bound on a character boundary, and when the lines do not all fit, the head (a third
of the room) and the tail kept, with the gap counted and named ("read on with after_seq=N")."""

from __future__ import annotations

import random

import pytest

from livchat.mcp.budget import (
    LINE_OVERHEAD,
    MAX_LINE_CUT,
    MIN_LINE_CUT,
    PAGE_OVERHEAD,
    Fitted,
    agent_line,
    cost,
    fit,
    line_cut,
    line_room,
    omitted_hint,
    strip_ansi,
)

WIDTH = 40  # a line of WIDTH ASCII characters costs 100 bytes
UNIT = LINE_OVERHEAD + WIDTH


def lines(first: int, last: int, width: int = WIDTH, **extra) -> list[dict]:
    return [
        {"seq": s, "stream": "stdout", "level": "INFO", "text": "x" * width, **extra} for s in range(first, last + 1)
    ]


def seqs(fitted: Fitted) -> list[int]:
    return [line["seq"] for line in fitted.lines]


def row(message: str, **extra) -> dict:
    return {"seq": 7, "stream": "stderr", "level": "ERROR", "message": message, **extra}


# ---- ANSI ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("plain [31m text", "plain [31m text"),
        ("\x1b[1;31mred\x1b[0m and \x1b[mreset", "red and reset"),
        ("\x1b[2K\x1b[1G\x1b[?25lprogress 50%\x1b[?25h", "progress 50%"),
        ("\x1b[38;5;208morange\x1b[38;2;1;2;3mrgb", "orangergb"),
        ("\x1b]0;window title\x07after", "after"),
        ("\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\ text", "link text"),
        ("up\x1bMdown", "updown"),  # a two-byte escape (reverse index)
        ("\x1b]0;a title never ended", ""),  # an unterminated OSC runs to the end
        ("tab\tand ünïcödé 😀", "tab\tand ünïcödé 😀"),
        ("", ""),
    ],
)
def test_ansi_escapes_are_stripped_and_the_text_kept(text, clean):
    assert strip_ansi(text) == clean


@pytest.mark.parametrize("text", ["\x1b(B\x1b[mplain", "\x1b7saved\x1b8", "\x1b=keypad\x1b>", "\x1bcreset"])
def test_other_common_escapes_are_stripped_too(text):
    # `tput sgr0` prints ESC ( B ESC [ m on xterm; DECSC/DECRC and keypad modes are common in TUIs.
    assert "\x1b" not in strip_ansi(text)


# ---- cutting lines -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("max_bytes", "cut"),
    [(0, MIN_LINE_CUT), (800, 200), (804, 201), (4000, 1000), (32768, MAX_LINE_CUT), (10**9, MAX_LINE_CUT)],
)
def test_the_line_cut_is_a_quarter_of_the_answer_within_bounds(max_bytes, cut):
    assert line_cut(max_bytes) == cut


@pytest.mark.parametrize(("max_bytes", "room"), [(0, 0), (PAGE_OVERHEAD, 0), (1201, 0), (1202, 1), (3200, 1000)])
def test_lines_get_half_of_what_the_page_leaves(max_bytes, room):
    assert line_room(max_bytes) == room


def test_an_agent_line_has_the_row_fields_and_tags_only_when_set():
    assert agent_line(row("boom"), 200) == {"seq": 7, "stream": "stderr", "level": "ERROR", "text": "boom"}
    assert agent_line(row("boom", host="", task=None, truncated=False), 200) == agent_line(row("boom"), 200)
    tagged = agent_line(row("boom", host="web1", task="deploy"), 200)
    assert tagged["host"] == "web1" and tagged["task"] == "deploy" and "cut" not in tagged


def test_a_long_line_is_cut_at_the_byte_bound_and_marked():
    line = agent_line(row("x" * 300), 200)
    assert line["text"] == "x" * 200 and line["cut"] is True
    assert "cut" not in agent_line(row("x" * 200), 200), "exactly the bound is whole"


@pytest.mark.parametrize(("char", "kept"), [("é", 100), ("€", 67), ("😀", 50)])
def test_a_cut_never_splits_a_character(char, kept):
    line = agent_line(row(char * 150), 201)
    assert line["text"] == char * kept and line["cut"] is True
    assert len(line["text"].encode()) <= 201


def test_escapes_are_stripped_before_the_cut_is_measured():
    line = agent_line(row("\x1b[1;31m" + "y" * 200 + "\x1b[0m"), 200)
    assert line["text"] == "y" * 200 and "cut" not in line


def test_a_row_stored_truncated_is_marked_cut_even_when_short():
    line = agent_line(row("the start of a long line", truncated=True), 200)
    assert line["text"] == "the start of a long line" and line["cut"] is True


def test_a_line_with_a_lone_surrogate_is_kept_and_costed():
    line = agent_line(row("bad \udc80 byte"), 200)
    assert line["text"] == "bad \udc80 byte"
    assert cost(line) == LINE_OVERHEAD + len("bad  byte") + 3


def test_a_line_costs_its_overhead_its_utf8_bytes_and_its_tags():
    assert cost({"text": "abc"}) == LINE_OVERHEAD + 3
    assert cost({"text": "é😀"}) == LINE_OVERHEAD + 6
    assert cost({"text": "abc", "host": "web1", "task": "deploy"}) == LINE_OVERHEAD + 3 + 4 + 6
    assert cost(lines(1, 1)[0]) == UNIT


# ---- fitting the head and the tail ----------------------------------------------------------------
def test_lines_that_fit_are_all_kept():
    fitted = fit(lines(1, 10), 10 * UNIT)
    assert seqs(fitted) == list(range(1, 11))
    assert (fitted.omitted, fitted.omitted_from, fitted.omitted_to, fitted.cut) == (0, None, None, False)
    assert fit([], 0) == Fitted(lines=[])


def test_one_byte_short_the_middle_line_goes():
    fitted = fit(lines(1, 10), 10 * UNIT - 1)
    assert seqs(fitted) == [1, 2, 3, 5, 6, 7, 8, 9, 10]
    assert (fitted.omitted, fitted.omitted_from, fitted.omitted_to) == (1, 4, 4)


def test_a_third_of_the_room_goes_to_the_head_the_rest_to_the_tail():
    fitted = fit(lines(1, 100), 10 * UNIT)
    assert seqs(fitted) == [1, 2, 3, *range(94, 101)]
    assert (fitted.omitted, fitted.omitted_from, fitted.omitted_to) == (90, 4, 93)
    assert sum(cost(line) for line in fitted.lines) <= 10 * UNIT


def test_a_head_and_a_tail_read_apart_name_the_unread_gap():
    fitted = fit(lines(1, 5), 100 * UNIT, tail_lines=lines(96, 100), gap=90)
    assert seqs(fitted) == [1, 2, 3, 4, 5, 96, 97, 98, 99, 100]
    assert (fitted.omitted, fitted.omitted_from, fitted.omitted_to) == (90, 6, 95)


def test_head_lines_that_do_not_fit_join_the_gap():
    fitted = fit(lines(1, 5), 10 * UNIT, tail_lines=lines(96, 100), gap=90)
    assert seqs(fitted) == [1, 2, 3, 96, 97, 98, 99, 100]
    assert (fitted.omitted, fitted.omitted_from, fitted.omitted_to) == (92, 4, 95)


def test_a_line_larger_than_the_room_is_shown_alone_the_last_one():
    assert seqs(fit(lines(1, 1, width=5000), UNIT)) == [1]
    fitted = fit(lines(1, 3, width=5000), UNIT)
    assert seqs(fitted) == [3]
    assert (fitted.omitted, fitted.omitted_from, fitted.omitted_to) == (2, 1, 2)
    assert seqs(fit(lines(1, 4), 0)) == [4], "no room at all still shows the last line"


def test_a_long_first_line_leaves_an_empty_head_and_the_tail_takes_the_room():
    every = lines(1, 1, width=1000) + lines(2, 30)
    fitted = fit(every, 10 * UNIT)
    assert seqs(fitted) == list(range(21, 31))
    assert (fitted.omitted, fitted.omitted_from, fitted.omitted_to) == (20, 1, 20)


def test_a_long_last_line_leaves_an_empty_tail_and_the_gap_runs_to_the_end():
    every = lines(1, 30) + lines(31, 31, width=1000)
    fitted = fit(every, 10 * UNIT)
    assert seqs(fitted) == [1, 2, 3]
    assert (fitted.omitted, fitted.omitted_from, fitted.omitted_to) == (28, 4, 31)


def test_filtered_lines_name_the_seq_range_of_the_gap():
    every = [{"seq": s, "text": "x" * WIDTH} for s in (2, 10, 11, 40, 41, 55, 90)]
    fitted = fit(every, 4 * UNIT)
    assert seqs(fitted) == [2, 41, 55, 90]
    assert (fitted.omitted, fitted.omitted_from, fitted.omitted_to) == (3, 3, 40), "3 lines, somewhere in 3-40"


def test_a_cut_line_is_reported():
    fitted = fit(lines(1, 3) + lines(4, 4, cut=True), 100 * UNIT)
    assert fitted.cut is True and fit(lines(1, 4), 100 * UNIT).cut is False


def test_what_is_kept_fits_and_what_is_left_out_is_exactly_the_named_range():
    rng = random.Random(20)
    for _ in range(300):
        n = rng.randint(1, 40)
        every = [{"seq": s, "text": "x" * rng.choice([0, 5, 40, 140, 700])} for s in range(1, n + 1)]
        room = rng.randint(0, 3000)
        fitted = fit(every, room)
        kept = seqs(fitted)
        assert kept == sorted(set(kept)) and set(kept) <= set(range(1, n + 1))
        assert len(kept) + fitted.omitted == n
        assert sum(cost(line) for line in fitted.lines) <= room or len(kept) == 1
        left_out = sorted(set(range(1, n + 1)) - set(kept))
        if left_out:
            assert left_out == list(range(fitted.omitted_from, fitted.omitted_to + 1))
        else:
            assert fitted.omitted_from is None


# ---- the hint ------------------------------------------------------------------------------------
def test_nothing_left_out_and_nothing_cut_needs_no_hint():
    assert omitted_hint("J1", Fitted(lines=lines(1, 3))) is None


def test_the_hint_says_how_many_lines_and_where_to_read_on():
    hint = omitted_hint("abc-123", fit(lines(1, 100), 10 * UNIT))
    assert hint.startswith("90 lines omitted (seq 4-93): get_job(job_id='abc-123', after_seq=3) reads them")
    assert "search_job_log(job_id='abc-123'" in hint and "problems=true" in hint
    assert "cut" not in hint


def test_the_hint_explains_cut_lines():
    only_cut = omitted_hint("J1", Fitted(lines=[], cut=True))
    assert only_cut == "Lines marked cut were shortened; a larger max_bytes shows more of each line."
    both = omitted_hint("J1", Fitted(lines=[], omitted=2, omitted_from=5, omitted_to=6, cut=True))
    assert both.startswith("2 lines omitted (seq 5-6)") and both.endswith(only_cut)
