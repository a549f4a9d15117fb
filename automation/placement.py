"""Where each `{{ name }}` of a command sits, read the way the remote shell will read it.

A value replaces its placeholder as one single-quoted word (`shlex.quote`). That word is one
literal argument only where the shell reads it as a word of a command (`echo {{ msg }}`,
`--name={{ msg }}`, `$(echo {{ msg }})`). Elsewhere the shell reads the value's characters
again: inside '…' the value's first quote closes the string; inside "…", `$(…)` in the value
runs; in a here-document, a comment, backticks, `${…}` or arithmetic the value is code or can
end the construct early. `placements` finds every placeholder and says which of these it is
in; prompts.py refuses a command with any placeholder outside a plain word.

The scanner walks the command once per dialect: bash and POSIX sh (dash, where `$'…'`, `[[`,
`((` and `$[` are not special). The remote side runs the command with `sh -c` (servers/ssh.py),
which is dash on Debian and bash elsewhere, so a placeholder must be a plain word in both:
where the two read a command differently, the less safe reading wins.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
WORD = "word"  # the one safe place
# A word starts after these (unescaped): a comment can only begin there.
WORD_BREAK = " \t\n;&|()<>"
BLANK = " \t\n"
NAME_SUBSCRIPT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\[")
HEREDOC_WORD_END = " \t\n;&|()<>"


@dataclass(eq=False)
class Frame:
    """One open construct: kind, where its opening text starts, and (once closed) ends."""

    kind: str  # cmd dq sq ansi bq param arith arithb subscript dbracket
    start: int
    opener: str = ""
    depth: int = 0  # parentheses / braces / brackets opened inside it
    closes_paren: bool = False  # a `$(`, `<(` or `>(` command list, ended by `)`
    in_dq: bool = False  # a `${…}` inside "…"
    end: int | None = None


@dataclass(frozen=True)
class Placement:
    name: str
    start: int
    end: int
    where: str  # WORD, or the construct: dq sq ansi bq param arith arithb subscript dbracket
    # heredoc marker comment backslash dollar
    region: tuple[int, int]  # the construct's span in the command (for messages)
    opener: str = ""  # the construct's opening text, e.g. '"', "$'", "`", "${", "<<EOF"
    frame_id: str = ""  # placements in one quoted string (as one dialect read it) share it

    @property
    def safe(self) -> bool:
        return self.where == WORD


@dataclass
class _Scanner:
    text: str
    bash: bool
    spans: dict[int, re.Match] = field(init=False)
    found: dict[int, tuple[re.Match, str, Frame | None, tuple[int, int] | None, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.spans = {m.start(): m for m in PLACEHOLDER_RE.finditer(self.text)}
        self.starts = list(self.spans)  # ascending: comments and here-documents find theirs by bisection
        self.found = {}
        self.stack = [Frame("cmd", 0)]
        self.heredocs: list[tuple[str, bool]] = []  # pending (end word, strip leading tabs)
        self.escape_end = -1  # the index just after a backslash escape (its blank is no break)
        # `\<newline>` vanishes: what follows starts a word exactly when the backslash did.
        self.continued: dict[int, bool] = {}

    # ---- driving ------------------------------------------------------------------------------
    def run(self) -> list[Placement]:
        i, n = 0, len(self.text)
        while i < n:
            frame = self.stack[-1]
            match = self.spans.get(i)
            if match:
                self._place(match, WORD if frame.kind == "cmd" else frame.kind, frame)
                i = match.end()
                continue
            i = getattr(self, "_" + frame.kind)(i, frame)
        for frame in self.stack:
            frame.end = n if frame.end is None else frame.end
        placements = []
        for start, match in self.spans.items():
            # A placeholder the walk jumped over (none should be) counts as misplaced.
            match, where, frame, region, opener = self.found.get(start, (match, "unknown", None, None, ""))
            if frame is not None:
                region, opener = (frame.start, frame.end), frame.opener
            placements.append(
                Placement(
                    match[1],
                    match.start(),
                    match.end(),
                    where,
                    region or (start, match.end()),
                    opener,
                    f"{'bash' if self.bash else 'sh'}:{where}:{(region or (start,))[0]}",
                )
            )
        return placements

    def _place(self, match, where, frame=None, region=None, opener="") -> None:
        self.found.setdefault(match.start(), (match, where, frame, region, opener))

    def _place_range(self, start: int, end: int, where: str, region: tuple[int, int], opener: str) -> None:
        first = bisect.bisect_left(self.starts, start)
        for pos in self.starts[first : bisect.bisect_left(self.starts, end)]:
            self._place(self.spans[pos], where, None, region, opener)

    def _push(self, kind: str, start: int, opener: str, **extra) -> Frame:
        frame = Frame(kind, start, opener, **extra)
        self.stack.append(frame)
        return frame

    def _pop(self, end: int) -> int:
        frame = self.stack.pop()
        frame.end = end
        return end

    def _word_start(self, i: int) -> bool:
        if i in self.continued:
            return self.continued[i]
        return i == 0 or (self.text[i - 1] in WORD_BREAK and self.escape_end != i)

    # ---- shared pieces ------------------------------------------------------------------------
    def _escape(self, i: int, frame: Frame) -> int:
        match = self.spans.get(i + 1)
        if match:  # `\{{ x }}` turns the value's opening quote into a literal one
            where = "backslash" if frame.kind == "cmd" else frame.kind
            self._place(match, where, None if where == "backslash" else frame, (i, match.end()), "\\")
            return match.end()
        if self.text.startswith("\n", i + 1):
            self.continued[i + 2] = self._word_start(i)
        else:
            self.escape_end = i + 2
        return i + 2

    def _dollar(self, i: int, frame: Frame) -> int:
        text, match = self.text, self.spans.get(i + 1)
        if match:  # `${{ x }}` is `$'…'` (bash) or `$name`, never the literal value
            self._place(match, "dollar", None, (i, match.end()), "$")
            return match.end()
        if text.startswith("$((", i):
            return self._push("arith", i, "$((").start + 3
        if text.startswith("$(", i):
            return self._push("cmd", i, "$(", closes_paren=True).start + 2
        if text.startswith("${", i):
            return self._push("param", i, "${", in_dq=frame.kind == "dq" or frame.in_dq).start + 2
        if self.bash and text.startswith("$[", i):
            return self._push("arithb", i, "$[").start + 2
        if self.bash and frame.kind != "dq" and text.startswith("$'", i):
            return self._push("ansi", i, "$'").start + 2
        if frame.kind != "dq" and text.startswith('$"', i):  # bash's translated "…" (in sh: $ then "…")
            return self._push("dq", i, '$"').start + 2
        return i + 1

    def _quote_or_subst(self, i: int, frame: Frame) -> int | None:
        """The constructs every unquoted context shares; None when text[i] is none of them."""
        char = self.text[i]
        if char == "\\":
            return self._escape(i, frame)
        if char == "'":
            return self._push("sq", i, "'").start + 1
        if char == '"':
            return self._push("dq", i, '"').start + 1
        if char == "`":
            return self._push("bq", i, "`").start + 1
        if char == "$":
            return self._dollar(i, frame)
        return None

    def _comment(self, i: int) -> int:
        end = self.text.find("\n", i)
        end = len(self.text) if end < 0 else end
        self._place_range(i, end, "comment", (i, end), "#")
        return end

    # ---- contexts -----------------------------------------------------------------------------
    def _cmd(self, i: int, frame: Frame) -> int:
        text, char = self.text, self.text[i]
        step = self._quote_or_subst(i, frame)
        if step is not None:
            return step
        if char == "#" and self._word_start(i):
            return self._comment(i)
        if char == "\n":
            return self._heredoc_bodies(i + 1) if self.heredocs else i + 1
        if char == "<" and text.startswith("<<<", i):
            return i + 3
        if char == "<" and text.startswith("<<", i):
            return self._heredoc_marker(i)
        if char in "<>" and text.startswith("(", i + 1):
            return self._push("cmd", i, char + "(", closes_paren=True).start + 2
        if char == "(":
            if self.bash and text.startswith("((", i) and self._word_start(i):
                return self._push("arith", i, "((").start + 2
            frame.depth += 1
            return i + 1
        if char == ")":
            if frame.depth:
                frame.depth -= 1
            elif frame.closes_paren:
                return self._pop(i + 1)
            return i + 1
        if self.bash and self._word_start(i):
            if text.startswith("[[", i) and text[i + 2 : i + 3] in ("", " ", "\t", "\n"):
                return self._push("dbracket", i, "[[").start + 2
            if char == "[" and text[i + 1 : i + 2] not in ("", " ", "\t", "\n"):
                return self._push("subscript", i, "[").start + 1
            # `a[i]=v` and `declare a[i]=v`: bash evaluates an indexed array's subscript as arithmetic.
            name = NAME_SUBSCRIPT_RE.match(text, i)
            if name:
                return self._push("subscript", name.end() - 1, "[").start + 1
        return i + 1

    def _dbracket(self, i: int, frame: Frame) -> int:
        text = self.text
        step = self._quote_or_subst(i, frame)
        if step is not None:
            return step
        if text[i] == "#" and self._word_start(i):
            return self._comment(i)
        if text.startswith("]]", i) and text[i - 1] in BLANK and text[i + 2 : i + 3] in ("", *WORD_BREAK):
            return self._pop(i + 2)
        return i + 1

    def _sq(self, i: int, frame: Frame) -> int:
        return self._pop(i + 1) if self.text[i] == "'" else i + 1

    def _ansi(self, i: int, frame: Frame) -> int:
        if self.text[i] == "\\":
            return self._escape(i, frame)
        return self._pop(i + 1) if self.text[i] == "'" else i + 1

    def _bq(self, i: int, frame: Frame) -> int:
        if self.text[i] == "\\":
            return self._escape(i, frame)
        return self._pop(i + 1) if self.text[i] == "`" else i + 1

    def _dq(self, i: int, frame: Frame) -> int:
        char = self.text[i]
        if char == "\\":
            return self._escape(i, frame)
        if char == '"':
            return self._pop(i + 1)
        if char == "`":
            return self._push("bq", i, "`").start + 1
        if char == "$":
            return self._dollar(i, frame)
        return i + 1

    def _param(self, i: int, frame: Frame) -> int:
        char = self.text[i]
        # Inside "${…}", bash pairs '…' when looking for the closing brace; dash does not.
        if char == "'" and frame.in_dq and not self.bash:
            return i + 1
        step = self._quote_or_subst(i, frame)
        if step is not None:
            return step
        return self._nest(i, frame, "{", "}")

    def _arith(self, i: int, frame: Frame) -> int:
        step = self._quote_or_subst(i, frame)
        if step is not None:
            return step
        if self.text[i] == "(":
            frame.depth += 1
        elif self.text[i] == ")":
            if frame.depth == 0 and self.text.startswith("))", i):
                return self._pop(i + 2)
            # A lone `)` at the top (`$((a) …)`): stay in arithmetic; refusing more is the safe side.
            frame.depth -= 1
        return i + 1

    def _arithb(self, i: int, frame: Frame) -> int:
        step = self._quote_or_subst(i, frame)
        return step if step is not None else self._nest(i, frame, "[", "]")

    _subscript = _arithb

    def _nest(self, i: int, frame: Frame, opening: str, closing: str) -> int:
        if self.text[i] == opening:
            frame.depth += 1
        elif self.text[i] == closing:
            if not frame.depth:
                return self._pop(i + 1)
            frame.depth -= 1
        return i + 1

    # ---- here-documents -----------------------------------------------------------------------
    def _heredoc_marker(self, i: int) -> int:
        """`<<WORD` / `<<-WORD`: note the end word; its body starts after the next newline."""
        text, n = self.text, len(self.text)
        j = i + 2
        strip = text.startswith("-", j)
        j += strip
        while j < n and text[j] in " \t":
            j += 1
        start, word = j, []
        while j < n and text[j] not in HEREDOC_WORD_END:
            char, match = text[j], self.spans.get(j)
            if match:  # recorded below as misplaced; its inner blanks do not end the word
                word.append(match[0])
                j = match.end()
            elif char in "'\"":
                close = text.find(char, j + 1)
                close = n - 1 if close < 0 else close
                word.append(text[j + 1 : close])
                j = close + 1
            elif char == "\\":
                word.append(text[j + 1 : j + 2])
                j += 2
            else:
                word.append(char)
                j += 1
        if j > start:
            self._place_range(start, j, "marker", (i, j), "<<")
            self.heredocs.append(("".join(word), strip))
        return max(j, i + 2)

    def _heredoc_bodies(self, pos: int) -> int:
        text, n = self.text, len(self.text)
        for word, strip in self.heredocs:
            body = pos
            while pos < n:
                end = text.find("\n", pos)
                end = n if end < 0 else end
                line = text[pos:end]
                pos = min(end + 1, n)
                if (line.lstrip("\t") if strip else line) == word:
                    break
            self._place_range(body, pos, "heredoc", (body, pos), "<<" + word)
        self.heredocs = []
        return pos


def placements(command: str) -> list[Placement]:
    """Every placeholder of `command` in order, with where it sits (the less safe dialect's answer)."""
    bash = _Scanner(command or "", bash=True).run()
    posix = _Scanner(command or "", bash=False).run()
    return [b if not b.safe or p.safe else p for b, p in zip(bash, posix, strict=True)]


def misplaced(command: str) -> list[Placement]:
    return [p for p in placements(command) if not p.safe]
