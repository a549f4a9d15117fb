"""LineSplitter: bytes as they arrive from SSH → the text lines that are stored."""

from __future__ import annotations

import pytest

from jobs.log.lines import MAX_LINE_BYTES, NUL_REPLACEMENT, LineSplitter

MIXED = "aé€😀z"  # 1-, 2-, 3- and 4-byte UTF-8 characters


def feed_all(chunks: list[bytes], *, max_line: int = MAX_LINE_BYTES) -> list[str]:
    """Every line the splitter gives for these chunks, the end of the stream included."""
    splitter = LineSplitter(max_line=max_line)
    lines: list[str] = []
    for chunk in chunks:
        lines += splitter.feed(chunk)
    return lines + splitter.finish()


# ---- characters split across reads ---------------------------------------------------------
@pytest.mark.parametrize("cut", range(1, len((MIXED + "\n").encode())))
def test_a_character_split_between_two_reads_stays_whole(cut):
    data = (MIXED + "\n").encode()
    assert feed_all([data[:cut], data[cut:]]) == [MIXED]


def test_a_four_byte_character_fed_one_byte_at_a_time():
    splitter = LineSplitter()
    assert [splitter.feed(bytes([b])) for b in "😀".encode()] == [[], [], [], []]
    assert splitter.feed(b" ok\n") == ["😀 ok"]


def test_the_incomplete_tail_waits_for_the_next_read():
    splitter = LineSplitter()
    assert splitter.feed(b"one\ncaf\xc3") == ["one"]
    assert splitter.feed(b"\xa9\n") == ["café"]


# ---- lines, blank lines and the end of the stream --------------------------------------------
def test_several_lines_in_one_read_keep_their_blank_lines():
    assert LineSplitter().feed(b"a\n\nb\n") == ["a", "", "b"]


def test_a_trailing_partial_line_is_flushed_at_the_end_once():
    splitter = LineSplitter()
    assert splitter.feed(b"one\ntwo") == ["one"]
    assert splitter.finish() == ["two"]
    assert splitter.finish() == []


def test_nothing_pending_gives_nothing_at_the_end():
    splitter = LineSplitter()
    assert splitter.feed(b"done\n") == ["done"]
    assert splitter.finish() == []


# ---- carriage returns --------------------------------------------------------------------------
def test_carriage_return_redraws_keep_the_final_state():
    assert feed_all([b"progress 10%\rprogress 50%\rprogress 100%\n"]) == ["progress 100%"]


def test_crlf_line_endings_are_plain_line_ends():
    assert feed_all([b"windows line\r\nnext\r\n"]) == ["windows line", "next"]


def test_redraws_spread_over_reads_keep_the_final_state():
    assert feed_all([b"10%\r", b"50%\r", b"100%\n"]) == ["100%"]


def test_a_shorter_redraw_replaces_the_whole_line():
    # Not a terminal overlay ("shortext"): the last thing drawn is the line.
    assert feed_all([b"long text\rshort\n"]) == ["short"]


def test_a_line_that_is_only_carriage_returns_is_empty():
    assert feed_all([b"\r\r\n"]) == [""]


def test_an_unterminated_redraw_at_the_end_keeps_its_final_state():
    assert feed_all([b"step 1\rstep 2"]) == ["step 2"]


# ---- NUL and invalid bytes ------------------------------------------------------------------------
def test_nul_is_shown_as_the_replacement_symbol():
    assert NUL_REPLACEMENT == "\u2400"
    assert feed_all([b"a\x00b\n", b"tail\x00"]) == ["a\u2400b", "tail\u2400"]


def test_invalid_bytes_are_replaced_not_dropped():
    assert feed_all([b"bad \xff byte\n"]) == ["bad \ufffd byte"]


def test_a_character_cut_off_by_the_end_of_the_stream_is_replaced():
    assert feed_all([b"x\xc3"]) == ["x\ufffd"]


# ---- lines longer than the maximum ----------------------------------------------------------------
def test_a_long_line_is_cut_at_the_maximum_as_it_arrives():
    splitter = LineSplitter(max_line=10)
    assert splitter.feed(b"x" * 8) == []
    assert splitter.feed(b"y" * 8) == ["xxxxxxxxyy"]
    assert splitter.feed(b"zzz\n") == ["yyyyyyzzz"]
    assert splitter.finish() == []


@pytest.mark.parametrize("text", ["a" + "é" * 6, "😀" * 5, "b€€€€€", ("aé€😀" * 7)])
def test_long_lines_are_cut_at_utf8_boundaries_and_lose_nothing(text):
    pieces = feed_all([text.encode()], max_line=10)
    assert len(pieces) > 1
    assert "".join(pieces) == text  # no byte lost, no replacement character
    assert all(0 < len(piece.encode()) <= 10 for piece in pieces)


def test_a_two_byte_character_across_the_limit_moves_to_the_next_piece():
    # byte 10 is the second byte of the fifth "é": the cut comes before that "é"
    assert feed_all([("a" + "é" * 6).encode()], max_line=10) == ["aéééé", "éé"]


def test_cut_pieces_keep_nul_visible():
    assert feed_all([b"a\x00" * 6], max_line=10) == ["a\u2400" * 5, "a\u2400"]


def test_a_line_longer_than_a_piece_that_ends_inside_one_read_is_cut_too():
    # A big read can hold a whole long line and its newline: it must be cut like an unfinished one.
    splitter = LineSplitter(max_line=1000)
    long_line = ("é" * 1200).encode()  # 2400 bytes of two-byte characters
    lines = splitter.feed(b"short\n" + long_line + b"\nlast\n")
    assert lines[0] == "short" and lines[-1] == "last"
    pieces = lines[1:-1]
    assert "".join(pieces) == "é" * 1200 and len(pieces) == 3
    assert all(len(p.encode()) <= 1000 for p in pieces)
