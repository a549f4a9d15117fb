"""The bound on a search pattern before it is compiled (jobs/log/pattern_guard.py): what it
accepts, what it refuses and says, that its reading of a pattern never weighs less than the
engine's own parse, and that what it accepts compiles in a few MB."""

from __future__ import annotations

import random

import pytest
import regex
from regex import _regex_core as core

from jobs.log import pattern_guard
from jobs.log.filters import parse_filter
from jobs.log.pattern_guard import (
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_REPEAT,
    LogQueryError,
    check_pattern,
    compile_pattern,
    estimate,
)

BOMB = "(?:(?:(?:a{1000}){1000}){1000})"  # 31 characters, ~250 GB to compile unguarded


# ---- accepted -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "q",
    [
        "error|fail",
        r"^\[.*\] (ERROR|WARN)",
        r"\d{1,3}(\.\d{1,3}){3}",
        "x{0,500}",
        r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}",
        r"(?i)connection (refused|reset|timed out)",
        r"[]a]+|[^]b]*|[[:alpha:]]{2,}|[\]\\-]",
        r"(?P<word>\w+) (?P=word)",
        r"(?<id>\d+)-\g<id>",
        r"(?#a comment with [ and ( inside)ok",
        r"(?<=user=)\w+(?!\.tmp)",
        r"(?>a+)b|(?|(x)|(y))\1",
        r"(a)?(?(1)b|c)",
        r"\p{Lu}{2,}\N{DEGREE SIGN}\x41\u00e9",
        r"(?:disk){e<=1} full",
        r"\bfail(ed|ure)?\b",
        "a{,5}b{3,}c{,}d{}",  # `{}` is a literal brace
        "(?s)(?m)(?a)(?-i:x)",
        r"(?:\d{1,3}\.){3}\d{1,3}:\d{2,5}",
        r"\R\X",
    ],
)
def test_ordinary_patterns_compile(q):
    assert compile_pattern(q).pattern == q
    assert estimate(q).items < 1000


def test_a_pattern_right_at_the_limit_is_accepted_and_one_more_is_not():
    # a{n} weighs n + 1 (the item n times, the repeat node once), a group 1 + what it holds
    assert estimate(f"a{{{MAX_REPEAT}}}b").items == MAX_REPEAT + 2
    check_pattern(f"a{{{MAX_REPEAT}}}b")
    assert estimate("(?:x{100}){3}").items == (101 + 1) * 3 + 1
    n = _largest("(?:x{100}){§}")
    check_pattern(f"(?:x{{100}}){{{n}}}")
    with pytest.raises(LogQueryError, match=rf"about [\d,]+ items \(at most {MAX_ITEMS:,}\)"):
        check_pattern(f"(?:x{{100}}){{{n + 1}}}")


COMPLEX = "Too complex a regular expression:"  # a log search's words: no parameter name


# ---- refused --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("q", "message"),
    [
        (BOMB, f"{COMPLEX} its repeats expand to about 1,002,002,002 items (at most 20,000)."),
        ("(?:a{1000}){1000}", f"{COMPLEX} its repeats expand to about 1,002,001 items (at most 20,000)."),
        ("(?:a{200}){200}", f"{COMPLEX} its repeats expand to about 40,401 items (at most 20,000)."),
        ("a{10001}", f"{COMPLEX} a repeat count of 10,001 is above 10,000."),
        ("a{10001,}", f"{COMPLEX} a repeat count of 10,001 is above 10,000."),
        ("a{0,65535}", f"{COMPLEX} a repeat count of 65,535 is above 10,000."),
        ("(" * 33 + "a" + ")" * 33, f"{COMPLEX} its groups nest 33 deep (at most 32)."),
        ("a{99999999999}", "Not a valid regular expression: repeat count too big (99,999,999,999)."),
        ("(?x) a {1000}", "The regular expression turns on verbose mode ((?x)), which a search does not accept"),
        ("ab(?ix:c)", "The regular expression turns on verbose mode ((?x))"),
        ("(?V1)[[a]--[b]]", "The regular expression turns on version 1 syntax ((?V1))"),
        (
            r"(?fi)[\w.]",
            "The regular expression turns on full case-folding ((?f)), which a search does not accept: "
            "use (?i) instead.",
        ),
        ("x" * 501, "Too long a regular expression: more than 500 characters."),
        ("(unclosed", "Not a valid regular expression: missing ) at position 9"),
    ],
)
def test_refused_with_what_is_too_large(q, message):
    with pytest.raises(LogQueryError) as caught:
        compile_pattern(q)
    assert str(caught.value).startswith(message), str(caught.value)


def test_parse_filter_goes_through_the_guard():
    with pytest.raises(LogQueryError, match=rf"^{COMPLEX} its repeats expand to about 1,002,002,002 items"):
        parse_filter(q=BOMB)
    flt = parse_filter(q="(?:ab){300}")
    assert flt.pattern is not None and flt.joined is not None


@pytest.mark.parametrize(
    "q",
    [
        # Each hides a big repeat from a reading that gets one construct wrong; the engine
        # sees it, so must the guard.
        "[[:alpha:][]{9000}]{3}",  # a POSIX class keeps its `]` inside the set
        "(?#[)(?:a{200}){200}]",  # a comment ends at its `)`, whatever it holds
        r"(?#\)[)(?:a{200}){200}]",  # ... an escaped one does not end it
        "(?:a{200})(?i){200}",  # inline flags add nothing: the count repeats the group
        "(?:a{200})(?#note){200}",  # so does a comment
        r"[\]](?:a{200}){200}",  # an escaped `]` does not end the set
        "[]](?:a{200}){200}",  # nor does a first `]`
        r"(?P<n>a)(?P=n)(?:a{200}){200}",
        r"\p{L}(?:a{200}){200}",
        "(?(1)a|b)(?:a{200}){200}",
        "(*SKIP)(?:a{200}){200}",
    ],
)
def test_constructs_cannot_hide_a_repeat(q):
    with pytest.raises(LogQueryError, match="Too complex a regular expression"):
        check_pattern(q)


def test_a_called_group_counts_four_times():
    # The engine compiles a called group again for each (reverse, fuzzy) context it is called in.
    assert estimate("(a{99})(?1)").items == 4 * estimate("(a{99})b").items


def test_the_engine_does_not_keep_what_it_compiled():
    # regex.compile caches 500 patterns: 500 distinct near-limit ones would keep GBs alive.
    assert compile_pattern("abc") is not compile_pattern("abc")
    assert regex.compile("abc") is regex.compile("abc")  # what the cache would have done


# ---- the guard's reading against the engine's parse ------------------------------------------------
# Tokens chosen to stress the constructs that change where a set, a comment, a group or a
# count ends. Patterns the engine parses are weighed both ways: the guard must never weigh less.
TOKENS = [
    "a", "b", "-", "^", "$", ".", "#", ":", "]", "[", "[^", "[]", "[:alpha:]", "[:", ":]", "[:^digit:]",
    "[:a: :]", "\\", "\\]", "\\[", "\\(", "\\)", "\\{", "\\p{L}", "\\pL", "\\P{N}", "\\N{LATIN SMALL LETTER A}",
    "\\x41", "\\d", "\\1", "\\g<1>", "\\R", "\\X", "\\b", "(", ")", "(?:", "(?#", "(?#)", "(?#\\))", "(?P<n>",
    "(?<m>", "(?P=n)", "(?(1)", "(?(n)", "(?(?=", "(?=", "(?!", "(?<=", "(?<!", "(?>", "(?|", "(?1)", "(?R)",
    "(?&n)", "(?P>n)", "(?-1)", "(?i)", "(?i:", "(?s-i:", "(?r)", "(?V0)", "(*SKIP)", "(*F)", "(*", "{", "}",
    ",", "{2}", "{2,3}", "{,3}", "{3,}", "{,}", "{}", "{1000}", "{0,1000}", "{1000,}", "{e<=1}", "{1<=e<=2}",
    "{e<=1:[a]}", "*", "+", "?", "??", "*+", "|", "{2", "2}", "0", "9",
]  # fmt: skip


def test_the_guard_never_weighs_less_than_the_engine_parses():
    rng = random.Random(20260515)
    parsed = 0
    for _ in range(20_000):
        q = "".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 14)))
        try:
            tree = _engine_parse(q)
        except (core.error, ValueError, RecursionError, IndexError, KeyError):
            continue  # the engine refuses it before building anything
        try:
            ours = estimate(q).items
        except LogQueryError:
            continue  # a refused mode
        parsed += 1
        assert ours >= _tree_items(tree), q
    assert parsed > 2000  # the token mix keeps producing patterns the engine accepts


def _engine_parse(q: str):
    """The engine's parse tree of q, as regex.compile builds it before compiling (private API:
    if a new version of the engine moves it, this test fails and the guard needs a new look)."""
    flags = regex.V0
    while True:
        source = core.Source(q)
        info = core.Info(flags, source.char_type, {})
        info.guess_encoding = regex.UNICODE
        try:
            tree = core._parse_pattern(source, info)
            break
        except core._UnscopedFlagSet:  # a global flag inside: the engine parses again with it
            flags = info.global_flags
    if not source.at_end():
        raise core.error("unbalanced parenthesis", q, source.pos)
    return tree


def _tree_items(node) -> int:
    """The guard's weights on the engine's tree: one per node, a repeat its count times the item."""
    if isinstance(node, core.Sequence):
        return sum(_tree_items(item) for item in node.items)
    if isinstance(node, core.Branch):
        return sum(_tree_items(b) for b in node.branches) + len(node.branches) - 1
    if isinstance(node, core.GreedyRepeat):  # and LazyRepeat, PossessiveRepeat
        times = max(node.max_count, 1) if node.max_count is not None else node.min_count + 1
        return _tree_items(node.subpattern) * times + 1
    if isinstance(node, core.Fuzzy):
        return _tree_items(node.subpattern)
    parts = [getattr(node, name, None) for name in ("subpattern", "yes_item", "no_item")]
    return 1 + sum(_tree_items(p) for p in parts if p is not None)


# ---- the heaviest shapes ------------------------------------------------------------------------
# Per item the heaviest measured: a lookahead ~410 bytes, a capture group ~370, a branch reset
# ~350, \R ~300 at its weight 6. tests/jobs/log/test_pattern_bounds.py compiles the largest accepted
# pattern of each and measures it (at most 7.8 MB a compile).
HEAVY = [
    "a{§}",
    "(?:a{2}){§}",
    "(?=a){§}",
    "(a){§}",
    "(?|(a)|(b)){§}",
    r"\R{§}",
    r"[\w\d\s\p{L}]{§}",
    "(?:(?=a)(?!b)(?<=c)){§}",
]


@pytest.mark.parametrize("shape", HEAVY)
def test_the_largest_accepted_pattern_of_each_shape_is_at_the_bound(shape):
    n = _largest(shape)
    check_pattern(shape.replace("§", str(n)))
    assert estimate(shape.replace("§", str(n))).items > MAX_ITEMS // 2
    with pytest.raises(LogQueryError, match="Too complex a regular expression"):
        check_pattern(shape.replace("§", str(n + 1)))


def _largest(shape: str) -> int:
    """The largest count for § that the guard accepts."""
    low, high = 1, MAX_REPEAT
    while low < high:
        mid = (low + high + 1) // 2
        if estimate(shape.replace("§", str(mid))).items <= MAX_ITEMS:
            low = mid
        else:
            high = mid - 1
    return low


def test_the_limits_are_the_documented_ones():
    assert (pattern_guard.MAX_ITEMS, pattern_guard.MAX_REPEAT, MAX_DEPTH) == (20_000, 10_000, 32)
