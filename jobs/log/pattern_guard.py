"""Bounds on a search pattern, checked before the `regex` module compiles it.

Every regular expression a person or an agent sends (the API's and the job page's `q`, MCP
`get_job(grep=)` and `search_job_log(pattern=)`, `job_logs --grep`) is compiled here, by
`compile_pattern`, and nowhere else.

Why: the engine builds one node per mandatory repeat of an item when it compiles, so nested
counts multiply: `(?:a{1000}){1000}` takes ~250 MB and 0.4 s to compile, and the 31
characters `(?:(?:(?:a{1000}){1000}){1000})` would take ~250 GB, growing the process until
the OOM killer acts. The search's time budget (regex_scan) covers matching only, so the size
must be bounded before compiling.

How: `estimate` reads the pattern the way the engine parses it (VERSION0, not verbose) and
adds up the nodes it would build: each item weighs about one node, a repeated item weighs
its upper count (the lower one plus one when unbounded) times the item, plus the repeat. The
engine parses (cheaply, in Python) before it builds (in C) and raises at parse time on a
pattern it cannot parse, so only patterns it accepts need an honest estimate; for those the
reading here matches the engine's or counts more (a fuzzy constraint or `\\p{..}` counts its
characters as items). Modes that change how a pattern reads (verbose `(?x)`, `(?V1)` sets)
are refused rather than read, and so is full case-folding `(?f)`, whose cost depends on the
Unicode members of each set (`(?fi)[\\w.]` costs ~27 KB a copy, `(?i)[\\w.]` ~0.5 KB).

Measured with regex 2026.11.15 on x86-64 (peak RSS growth of one compile, VmHWM): a plain
item repeated costs ~210-260 bytes, a set or `a+` ~450-700 (weighed 3), `\\R` ~1.6 KB (6),
`\\X` ~1.2 KB (5), a group or lookaround ~300-400 (1 + what it holds), and a called group
is compiled up to 4 times (x4 when the pattern calls groups). At MAX_ITEMS the worst shape
measured took 7.8 MB and ~20 ms per compile (a{20000}: 5.6 MB, 15 ms); a search compiles
its pattern twice (per line, and MULTILINE for joined lines): 11.6 MB at worst.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import regex


class LogQueryError(ValueError):
    """A filter a person can fix; the message says how."""


REGEX_BUDGET_SECONDS = 2.0  # matching, per request: a pathological pattern ends with a clear error

MAX_PATTERN_LENGTH = 500
MAX_ITEMS = 20_000  # nodes a compiled pattern may hold: ~5 MB plain, 7.8 MB for the worst shape measured
MAX_REPEAT = 10_000  # one count; larger ones are typos or attacks in a log search
MAX_DEPTH = 32  # nested groups: the engine parses and compiles them recursively, in Python
ENGINE_MAX_COUNT = 2**32 - 2  # the engine refuses larger counts ("repeat count too big")

_SET = 3  # a character set: ~450-700 bytes per copy, whatever its members
_ESCAPE = {"R": 6, "X": 5}  # \R is an atomic branch of sets, \X a grapheme matcher
_CALLS = 4  # a called group is compiled again for each of (reverse, fuzzy) it is called in
_FLAGS = {"a", "b", "e", "f", "i", "L", "m", "p", "r", "s", "u", "w", "x", "V0", "V1"}
_NAME_PART = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 &_-.")
_VALUE_PART = _NAME_PART | frozenset("/")  # after `=` or `:` in [:prop=value:]


@dataclass(frozen=True)
class Estimate:
    """What compiling a pattern would build, as `estimate` reads it."""

    items: int  # nodes the engine would build, about
    depth: int  # deepest group nesting
    largest_count: int  # the largest repeat count written


def compile_pattern(q: str, *, multiline: bool = False, field: str = "q") -> regex.Pattern:
    """The compiled pattern (VERSION0), after check_pattern; LogQueryError for one a person
    must fix (`field`: the name the person knows the pattern by). Not cached by the engine:
    its cache keeps 500 patterns, up to ~10 MB each."""
    check_pattern(q, field=field)
    flags = regex.V0 | (regex.MULTILINE if multiline else 0)
    try:
        return regex.compile(q, flags, cache_pattern=False)
    except (regex.error, ValueError, TypeError, RecursionError) as exc:
        raise LogQueryError(_invalid(field, str(exc))) from None


def check_pattern(q: str, *, field: str = "q") -> None:
    """Raise LogQueryError when compiling `q` could take more than a few MB (see the module doc)."""
    if len(q) > MAX_PATTERN_LENGTH:
        raise LogQueryError(_too_long(field))
    try:
        found = estimate(q)
    except LogQueryError as exc:
        raise LogQueryError(_turns_on(field, str(exc))) from None
    if found.largest_count > ENGINE_MAX_COUNT:
        # The engine's own refusal, said before it is asked.
        raise LogQueryError(_invalid(field, f"repeat count too big ({found.largest_count:,})."))
    if found.depth > MAX_DEPTH:
        raise LogQueryError(_too_complex(field, f"its groups nest {found.depth} deep (at most {MAX_DEPTH})."))
    if found.largest_count > MAX_REPEAT:
        raise LogQueryError(_too_complex(field, f"a repeat count of {found.largest_count:,} is above {MAX_REPEAT:,}."))
    if found.items > MAX_ITEMS:
        raise LogQueryError(
            _too_complex(field, f"its repeats expand to about {found.items:,} items (at most {MAX_ITEMS:,}).")
        )


# The messages. A log search (field "q": the API's parameter, the job page's search box, MCP's
# grep and pattern) speaks to a person who never saw the name `q`: its messages name no field
# ("Not a valid regular expression: missing ) at position 6"). Other callers name the field
# the person filled in ("command_regex is not a valid regular expression: ...").
SEARCH_FIELD = "q"


def _invalid(field: str, reason: str) -> str:
    if field == SEARCH_FIELD:
        return f"Not a valid regular expression: {reason}"
    return f"{field} is not a valid regular expression: {reason}"


def _too_complex(field: str, reason: str) -> str:
    if field == SEARCH_FIELD:
        return f"Too complex a regular expression: {reason}"
    return f"{field} is too complex: {reason}"


def _too_long(field: str) -> str:
    if field == SEARCH_FIELD:
        return f"Too long a regular expression: more than {MAX_PATTERN_LENGTH} characters."
    return f"{field} is longer than {MAX_PATTERN_LENGTH} characters."


def _turns_on(field: str, what: str) -> str:
    """`what` is estimate's refusal ("turns on verbose mode ..."), said of the pattern or the field."""
    if field == SEARCH_FIELD:
        return f"The regular expression {what}"
    return f"{field} {what}"


class _Frame:
    """One group being read: the weight of what it holds so far, and of its last element
    (what a quantifier would repeat; None at the start and after `|`)."""

    __slots__ = ("last", "size")

    def __init__(self) -> None:
        self.size = 0
        self.last: int | None = None

    def add(self, weight: int) -> None:
        self.size += weight
        self.last = weight


def estimate(q: str) -> Estimate:
    """Read `q` as the engine parses it (see _regex_core.parse_sequence) and weigh it."""
    stack = [_Frame()]
    depth = largest = 0
    calls = False
    i, n = 0, len(q)
    while i < n:
        ch = q[i]
        frame = stack[-1]
        if ch == "\\":
            # The escaped character is part of it. Longer escapes (\x41, \p{Lu}, \N{name},
            # \g<1>) hold only letters, digits and `{}<>=:&_-./^ `: read on as items, never
            # a group, a set or a bar, and at worst a count the engine does not see.
            frame.add(_ESCAPE.get(q[i + 1 : i + 2], 1))
            i += 2
        elif ch == "[":
            i = _set_end(q, i + 1)
            frame.add(_SET)
        elif ch == "(":
            i, kind, flags_on = _open(q, i)
            if kind == "refuse":
                raise LogQueryError(_refusal(flags_on))
            if kind == "group":
                stack.append(_Frame())
                depth = max(depth, len(stack) - 1)
            elif kind in ("item", "call"):
                frame.add(1)
                calls = calls or kind == "call"
            # "transparent" (inline flags, a comment): the engine adds nothing, and a
            # quantifier after it repeats the element before it.
        elif ch == ")":
            i += 1
            if len(stack) > 1:  # else unbalanced: the engine refuses it
                inner = stack.pop()
                stack[-1].add(inner.size + 1)
        elif ch == "|":
            i += 1
            frame.size += 1
            frame.last = None
        elif ch in "*+?{":
            counts, i = _quantifier(q, i)
            if counts is None:  # a literal `{` (or a fuzzy constraint, read on as items)
                frame.add(1)
                continue
            low, high = counts
            largest = max(largest, low, high or 0)
            if frame.last is not None:  # else "nothing to repeat": the engine refuses it
                times = max(high, 1) if high is not None else low + 1
                repeated = frame.last * times + 1
                frame.size += repeated - frame.last
                # Kept, not cleared: a second quantifier (which the engine refuses as
                # "multiple repeat") multiplies again, so a count this reading takes for
                # an escape's argument (`\p{..}`) can never hide the real one after it.
                frame.last = repeated
            if q[i : i + 1] in ("?", "+"):  # lazy or possessive
                i += 1
        else:
            frame.add(1)
            i += 1
    while len(stack) > 1:  # unclosed: the engine refuses it; weigh it anyway
        inner = stack.pop()
        stack[-1].add(inner.size + 1)
    items = stack[0].size * (_CALLS if calls else 1)
    return Estimate(items=items, depth=depth, largest_count=largest)


def _quantifier(q: str, i: int) -> tuple[tuple[int, int | None] | None, int]:
    """((min, max or None), the index after it) for `*`, `+`, `?`, `{n}`, `{n,}`, `{,m}`,
    `{n,m}`, `{,}`; (None, i + 1) for a `{` that is not one (parse_limited_quantifier)."""
    ch = q[i]
    if ch != "{":
        return {"*": (0, None), "+": (1, None), "?": (0, 1)}[ch], i + 1
    j = i + 1
    low_end = _digits_end(q, j)
    low = q[j:low_end]
    j = low_end
    if q[j : j + 1] == ",":
        high_end = _digits_end(q, j + 1)
        high = q[j + 1 : high_end]
        j = high_end
        counts = (int(low or 0), int(high) if high else None)
    elif low:
        counts = (int(low), int(low))
    else:
        return None, i + 1
    if q[j : j + 1] != "}":
        return None, i + 1
    return counts, j + 1


def _digits_end(q: str, j: int) -> int:
    while j < len(q) and _digit(q[j]):
        j += 1
    return j


def _digit(ch: str) -> bool:
    # The engine reads ASCII digits only (string.digits), not every str.isdigit() one.
    return len(ch) == 1 and ch in "0123456789"


def _set_end(q: str, j: int) -> int:
    """The index after the set whose `[` is just before j (VERSION0: no nested sets).

    Its first member is taken whatever it is (`[]a]`, `[^]a]`), then members until `]`.
    A member is an escape (its argument never holds `]`), a POSIX class `[:alpha:]`, or
    one character; an unterminated set runs to the end (the engine refuses it)."""
    n = len(q)
    if q[j : j + 1] == "^":
        j += 1
    first = True
    while j < n:
        if q[j] == "]" and not first:
            return j + 1
        first = False
        if q[j] == "\\":
            j += 2
        elif q.startswith("[:", j):
            j = _posix_end(q, j) or j + 1
        else:
            j += 1
    return n


def _posix_end(q: str, j: int) -> int | None:
    """The index after the POSIX class `[:name:]`, `[:^name:]`, `[:prop=value:]` at j, as
    _regex_core.parse_posix_class reads it, or None when it is not one (then `[` is a member)."""
    k = j + 2
    if q[k : k + 1] == "^":
        k += 1
    while k < len(q) and q[k] in _NAME_PART:
        k += 1
    if q[k : k + 1] in (":", "="):
        v = k + 1
        while v < len(q) and q[v] in _VALUE_PART:
            v += 1
        if q[k + 1 : v].strip():
            k = v
    return k + 2 if q.startswith(":]", k) else None


def _open(q: str, i: int) -> tuple[int, str, str]:
    """What the `(` at i opens (_regex_core.parse_paren): (index after the opening part,
    kind, flags turned on), kind one of group, item, call, transparent, refuse."""
    rest = q[i + 1 :]
    if rest.startswith("?#"):  # a comment: up to the first `)` not escaped
        k = i + 3
        while k < len(q) and q[k] != ")":
            k += 2 if q[k] == "\\" else 1
        return k + 1, "transparent", ""
    for prefix in ("?:", "?=", "?!", "?<=", "?<!", "?>", "?|"):
        if rest.startswith(prefix):
            return i + 1 + len(prefix), "group", ""
    if rest.startswith(("?<", "?P<")):  # a named group: the name ends at `>`
        return _past(q, i + (3 if rest[1] == "<" else 4), ">", "group", i + 1)
    if rest.startswith("?P="):  # a reference to a named group
        return _past(q, i + 4, ")", "item", i + 1)
    for prefix in ("?P>", "?P&", "?&", "?R"):  # a call to a group
        if rest.startswith(prefix):
            return _past(q, i + 1 + len(prefix), ")", "call", i + 1)
    if rest.startswith("?("):  # a conditional: `(?(name)yes|no)`, or `(?(?=...)yes|no)`
        if rest.startswith("?(?"):
            return i + 2, "group", ""  # its lookaround is read next, as a group of its own
        return _past(q, i + 3, ")", "group", i + 3)
    if rest.startswith("?") and (_digit(rest[1:2]) or (rest[1:2] in ("+", "-") and _digit(rest[2:3]))):
        return _past(q, i + 2, ")", "call", i + 1)
    if rest.startswith("?"):
        return _flags(q, i + 2)
    if rest.startswith("*") and rest[1:2].isalpha():  # a verb: (*PRUNE), (*SKIP), (*FAIL)
        return _past(q, i + 2, ")", "item", i + 1)
    return i + 1, "group", ""


def _past(q: str, k: int, end: str, kind: str, fallback: int) -> tuple[int, str, str]:
    """After the name that ends at the first `end` (names never hold `)` or `>`); when it
    does not end there the engine refuses the pattern: read on from `fallback` as a group."""
    stop = min((p for p in (q.find(")", k), q.find(">", k)) if p >= 0), default=-1)
    if stop >= 0 and q[stop] == end:
        return stop + 1, kind, ""
    return fallback, "group", ""


def _flags(q: str, k: int) -> tuple[int, str, str]:
    """Inline flags after `(?` at k: `(?i)` (transparent), `(?i-m:` (a group); parse_flags."""
    on, k = _flag_set(q, k)
    off = ""
    if q[k : k + 1] == "-":
        off, k = _flag_set(q, k + 1)
    if "x" in on or "V1" in on or "f" in on:
        return k, "refuse", on
    if q[k : k + 1] == ":":
        return k + 1, "group", on
    if q[k : k + 1] == ")":
        return k + 1, "transparent", on
    return k, "group", on  # "unknown extension": the engine refuses it


def _flag_set(q: str, k: int) -> tuple[str, int]:
    found = []
    while True:
        flag = q[k : k + 2] if q[k : k + 1] == "V" else q[k : k + 1]
        if flag not in _FLAGS:
            return "".join(found), k
        found.append(flag)
        k += len(flag)


def _refusal(flags_on: str) -> str:
    # Said of nobody: check_pattern puts the pattern's name in front (_turns_on).
    if "x" in flags_on:
        return "turns on verbose mode ((?x)), which a search does not accept: write the pattern without it."
    if "V1" in flags_on:
        return "turns on version 1 syntax ((?V1)), which a search does not accept: write the pattern without it."
    return "turns on full case-folding ((?f)), which a search does not accept: use (?i) instead."


def search(pattern: regex.Pattern, text: str, pos: int, deadline: float):
    remaining = deadline - time.monotonic()
    try:
        if remaining <= 0:
            raise TimeoutError
        return pattern.search(text, pos, timeout=remaining)
    except TimeoutError:
        raise LogQueryError(too_slow()) from None


def too_slow() -> str:
    """The one message for a regular expression over its time budget (API, pages and CLI)."""
    return f"The regular expression took longer than {REGEX_BUDGET_SECONDS:g} s to search this log; use a simpler one."
