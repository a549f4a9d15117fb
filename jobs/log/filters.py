"""What a reader asks for: level, stream, problems, host and a regular expression, checked once
(`parse_filter`) into a `LineFilter` that every read (jobs/log/reader.py, regex_scan.py, the
live feed, --follow, MCP) applies the same way. Patterns are bounded before they are compiled
and timed while they match (jobs/log/pattern_guard.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import regex
from django.db.models import Q

from jobs.log import pattern_guard
from jobs.log.lines import visible
from jobs.log.pattern_guard import LogQueryError, compile_pattern, search
from jobs.models import IMPORTANT_LEVELS, LEVEL_ORDER, Stream


@dataclass(frozen=True)
class LineFilter:
    level: str | None = None
    stream: str | None = None
    pattern: regex.Pattern | None = None
    # The same expression for searching many lines joined by "\n" (MULTILINE so ^ and $
    # keep their per-line meaning); None when it uses anchors or lookarounds whose meaning
    # changes across lines, and lines are then searched one by one.
    joined: regex.Pattern | None = None
    # The "problems" view: WARNING and above OR stderr (a command's own complaints are INFO).
    problems: bool = False
    host: str | None = None  # only the lines tagged with this host (one command on many servers)

    def levels(self) -> list[str] | None:
        if not self.level:
            return None
        return [str(lv) for lv in LEVEL_ORDER[LEVEL_ORDER.index(self.level) :]]

    def narrows(self) -> bool:
        """Whether level, stream or problems leave some lines out (the regex aside)."""
        return bool(self.levels() or self.stream or self.problems or self.host)

    def select(self, rows: list[dict]) -> list[dict]:
        """The rows this filter keeps, checked here rather than in a query (rows already read,
        e.g. by --follow). A regular expression runs under the same time budget as the API's
        search, per call: a pathological one ends with a clear error instead of pinning a CPU."""
        if not (self.narrows() or self.pattern):
            return rows
        levels = set(self.levels() or ())
        out = [
            r
            for r in rows
            if (not levels or r["level"] in levels)
            and (not self.stream or r["stream"] == self.stream)
            and (not self.problems or is_problem(r))
            and (not self.host or r.get("host") == self.host)
        ]
        if self.pattern is None:
            return out
        deadline = time.monotonic() + pattern_guard.REGEX_BUDGET_SECONDS  # read at call time: tests shorten it
        # Matched against what a person sees printed: colour codes neither hide nor fake a match.
        return [r for r in out if search(self.pattern, visible(r["message"]), 0, deadline) is not None]


def is_problem(row: dict) -> bool:
    return row["level"] in IMPORTANT_LEVELS or row["stream"] == Stream.STDERR


PROBLEMS = Q(level__in=IMPORTANT_LEVELS) | Q(stream=Stream.STDERR)  # on lines and on marks alike


def parse_filter(
    *,
    level: str | None = None,
    stream: str | None = None,
    q: str | None = None,
    problems: bool = False,
    host: str | None = None,
) -> LineFilter:
    if level:
        level = level.upper()
        if level not in LEVEL_ORDER:
            raise LogQueryError(f"level must be one of {', '.join(LEVEL_ORDER)}.")
    if stream and stream not in Stream.values:
        raise LogQueryError(f"stream must be one of {', '.join(Stream.values)}.")
    # Every compile of a person's pattern goes through pattern_guard: its size is bounded
    # before the engine expands its repeats (a 31-character pattern could take the process down).
    pattern = compile_pattern(q) if q else None
    joined = None
    if pattern is not None and not any(token in q for token in _LINE_SENSITIVE):
        joined = compile_pattern(q, multiline=True)
    return LineFilter(
        level=level or None,
        stream=stream or None,
        pattern=pattern,
        joined=joined,
        problems=bool(problems),
        host=host or None,
    )


_LINE_SENSITIVE = ("\\A", "\\Z", "\\z", "\\G", "(?<", "(?=", "(?!")
