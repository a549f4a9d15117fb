"""One finished job's whole log file searched at once, for the search across jobs
(search_jobs.py): read in one call, looked through as bytes where that is enough (a literal
absent, a regex ruled out by a wider bytes pattern), matching lines counted in C. Line N of the
file is seq N (jobs/log/logfile.py); a line's message starts after `[time] LEVEL stream: `."""

from __future__ import annotations

import os
import re
import time
from functools import lru_cache

import regex

from jobs.log import logfile, pattern_guard
from jobs.log.filters import LineFilter, is_problem
from jobs.log.lines import visible
from jobs.log.pattern_guard import LogQueryError

FIRST_LINES = 5  # matching lines shown a job (match_count counts them all)
MAX_FILE_BYTES = 256 << 20  # a larger file is searched in chunks by regex_scan instead


def search_file(job, flt: LineFilter, deadline: float) -> tuple[list[int], int] | None:
    """(the first matching seqs, how many lines match) from the job's whole file, or None when
    the file cannot stand in for its rows. Absence needs no more than the file: a finished
    job's file holds every row (the sink appends each batch after it commits; the reaper
    repairs the file of a job whose worker died). Matches need line N to be seq N: the file
    must hold exactly last_seq lines (an old file with a stray newline has more) and be UTF-8."""
    try:
        fd = os.open(logfile.path_text(job.job_id), os.O_RDONLY)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        if size > MAX_FILE_BYTES:
            return None
        data = os.read(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) != size:
        return None
    if data and not data.endswith(b"\n"):
        return None
    plain = b"\x1b" not in data  # escape codes would split what a person sees: decode and strip them
    literal = _literal(flt)
    if plain and literal is not None:
        needle = literal.encode("utf-8")
        if data.find(needle) < 0:
            # Absent from a finished job's file is absent from its rows: the sink appends every
            # batch after it commits, the reaper repairs the file of a job whose worker died.
            return [], 0
        if data.count(b"\n") != job.last_seq:
            return None
        return _count_lines(data, flt, needle, deadline)
    prefilter = _bytes_superset(flt.pattern.pattern) if plain else None
    if prefilter is not None and prefilter.search(data) is None:
        return [], 0  # no match even for the wider bytes pattern: none without decoding a byte
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text if plain else visible(text)
    if pattern_guard.search(flt.joined, text, 0, deadline) is None:
        return [], 0
    if data.count(b"\n") != job.last_seq:
        return None
    if _line_safe(flt.pattern.pattern):
        return _count_lines(text, flt, flt.pattern.pattern, deadline)
    return _each_line(text, flt, deadline)


_WIDER = {  # a class as bytes, widened to any run of non-ASCII bytes (one character of the text)
    "d": rb"(?:[0-9]|[\x80-\xff]+)",
    "w": rb"(?:[0-9A-Za-z_]|[\x80-\xff]+)",
    "s": rb"(?:[\t\n\v\f\r\x1c-\x1f ]|[\x80-\xff]+)",
}


@lru_cache(maxsize=64)
def _bytes_superset(pattern: str):
    """A bytes pattern that matches wherever `pattern` matches the decoded text (and maybe more),
    to rule a file out without decoding it; None when the pattern is not one this can widen
    (only ASCII literals, escaped punctuation, \\d \\w \\s, `.`, plain classes, quantifiers)."""
    if not pattern.isascii() or "(?" in pattern:
        return None
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 >= len(pattern):
                return None
            n = pattern[i + 1]
            if n in _WIDER:
                out.append(_WIDER[n])
            elif not n.isalnum():
                out.append(b"\\" + n.encode())
            else:
                return None  # \\b, \\W, \\x41 …: not widened
            i += 2
        elif c == "[":
            end = pattern.find("]", i + 2)
            inner = pattern[i + 1 : end]
            if end < 0 or inner.startswith("^") or "\\" in inner or "[" in inner:
                return None
            out.append(pattern[i : end + 1].encode())
            i = end + 1
        elif c == ".":
            out.append(rb"(?:[^\n\x80-\xff]|[\x80-\xff]+)")
            i += 1
        else:
            out.append(c.encode())
            i += 1
    try:
        return regex.compile(b"".join(out), regex.V0 | regex.MULTILINE)
    except regex.error:
        return None


def _literal(flt: LineFilter) -> str | None:
    return _literal_text(flt.pattern.pattern)


@lru_cache(maxsize=64)
def _literal_text(pattern: str) -> str | None:
    """The text of a literal search (Query escapes it), or None for a regex."""
    unescaped = regex.sub(r"\\(.)", r"\1", pattern)
    return unescaped if regex.escape(unescaped, special_only=True) == pattern else None


# Tokens that can match a newline: a pattern holding one is checked line by line instead.
_NEWLINE_TOKENS = ("\\s", "\\n", "\\W", "\\D", "\\R", "\\v", "\\p", "\\P", "\\X", "\\x", "\\0", "\\u",
                   "\\U", "\\N", "\\c", "\\h", "[^", "(?", "\n")  # fmt: skip


def _line_safe(pattern: str) -> bool:
    return not any(token in pattern for token in _NEWLINE_TOKENS)


_PREFIX = {
    bytes: re.compile(rb"^\[[^\]\n]*\] [A-Z]+ [a-z]+: ", re.MULTILINE),
    str: re.compile(r"^\[[^\]\n]*\] [A-Z]+ [a-z]+: ", re.MULTILINE),
}


# The shapes of a line's prefix `[YYYY-MM-DD HH:MM:SS] LEVEL stream: ` (`#` is any digit).
_PREFIX_SHAPES = [
    f"[####-##-## ##:##:##] {level} {stream}: "
    for level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    for stream in ("stdout", "stderr", "system")
]


@lru_cache(maxsize=64)
def _may_start_in_a_prefix(needle: str) -> bool:
    """Whether `needle` could begin inside some line's prefix (then run on into the message)."""
    for shape in _PREFIX_SHAPES:
        for i in range(len(shape)):
            tail = shape[i:]
            n = min(len(tail), len(needle))
            if all(
                p == c or (p == "#" and c.isdigit() and c.isascii()) for p, c in zip(tail[:n], needle[:n], strict=True)
            ):
                return True
    return False


def _count_lines(text, flt: LineFilter, body: str | bytes, deadline: float) -> tuple[list[int], int] | None:
    """Count the matching lines in C: the lines' prefixes are cut out first (so a match is in a
    message, never in `[time] LEVEL stream: `), then `body` plus the rest of its line is found
    again and again: one match a matching line. Filters on level or stream need the prefixes:
    line by line."""
    if flt.level or flt.stream or flt.problems:
        return _each_line(text if isinstance(text, str) else text.decode("utf-8"), flt, deadline)
    if isinstance(body, bytes) and not _may_start_in_a_prefix(body.decode("utf-8")):
        messages = text  # no line's prefix can hold the start of it: no need to cut them out
    else:
        messages = _PREFIX[type(text)].sub(b"" if isinstance(text, bytes) else "", text)
    if isinstance(body, bytes):
        line = re.compile(re.escape(body) + rb"[^\n]*")
        count, matches = len(line.findall(messages)), line.finditer(messages)
    else:
        line = regex.compile("(?:" + body + ")[^\n]*", regex.V0 | regex.MULTILINE)
        left = max(0.001, deadline - time.monotonic())
        try:
            count, matches = len(line.findall(messages, timeout=left)), line.finditer(messages, timeout=left)
        except TimeoutError:
            raise LogQueryError(pattern_guard.too_slow()) from None
    newline = b"\n" if isinstance(text, bytes) else "\n"
    first, seq, counted_to = [], 1, 0
    for match in matches:
        if len(first) >= FIRST_LINES:
            break
        seq += messages.count(newline, counted_to, match.start())
        counted_to = match.start()
        first.append(seq)
    return first, count


def _each_line(text: str, flt: LineFilter, deadline: float) -> tuple[list[int], int] | None:
    """Line by line, each candidate checked on its message alone (patterns that could cross a
    newline in the joined text: \\s, [^x] …)."""
    found: list[int] = []
    count = 0
    pos, seq, counted_to = 0, 1, 0
    size = len(text)
    while pos < size:
        match = pattern_guard.search(flt.joined, text, pos, deadline)
        if match is None:
            break
        at = match.start()
        start = text.rfind("\n", 0, at) + 1
        end = text.find("\n", at)
        end = size if end < 0 else end
        seq += text.count("\n", counted_to, start)
        counted_to = start
        body = text.find(": ", start + 22, end) + 2  # after `[YYYY-MM-DD HH:MM:SS] LEVEL stream: `
        if body < 2 or text[start] != "[":
            return None
        if _prefix_wanted(text, start, body, flt) and pattern_guard.search(flt.pattern, text[body:end], 0, deadline):
            count += 1
            if len(found) < FIRST_LINES:
                found.append(seq)
        pos = end + 1
    return found, count


def _prefix_wanted(text: str, start: int, body: int, flt: LineFilter) -> bool:
    """The line's level and stream (read from its prefix) pass the filter."""
    if not (flt.level or flt.stream or flt.problems):
        return True
    close = text.find("] ", start)
    level, _, stream = text[close + 2 : body - 2].partition(" ")
    levels = flt.levels()
    if levels and level not in levels:
        return False
    if flt.stream and stream != flt.stream:
        return False
    return not flt.problems or is_problem({"level": level, "stream": stream})
