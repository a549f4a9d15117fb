"""Turn a byte stream into complete text lines, cheaply and without losing anything.

Decoding happens on whole blocks of complete lines: a UTF-8 sequence never contains the
byte 0x0A, so decoding a block equals decoding each line, and a character split across
two reads stays intact because the incomplete tail waits for the next chunk.
"""

from __future__ import annotations

import re

MAX_LINE_BYTES = 64 * 1024
NUL_REPLACEMENT = "\u2400"  # ␀: PostgreSQL text cannot hold NUL, and it must stay visible


# What a terminal does not print: CSI sequences (colours, cursor moves), OSC strings (titles,
# links), charset designations (ESC ( B: `tput sgr0`), and the two-byte escapes: Fe (ESC @..._),
# Fp (ESC 7/8 save/restore, ESC =/> keypad) and Fs (ESC c reset). Never a newline: stripping
# joined lines keeps line N line N.
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|\x1b[()*+][ -~]|\x1b[0-?@-Z\\-_`-~]")


def visible(text: str) -> str:
    """The text as a person sees it printed: escape sequences out. A search matches this (a
    stored line keeps its escapes, to be shown in colour)."""
    return ANSI.sub("", text) if "\x1b" in text else text


def split_text(text: str) -> list[str]:
    """Decoded text as stored lines: NUL made visible, each `\r` redraw kept as its final state."""
    if "\x00" in text:
        text = text.replace("\x00", NUL_REPLACEMENT)
    lines = text.split("\n")
    if "\r" in text:
        lines = [_redraw(line) for line in lines]
    return lines


def _redraw(line: str) -> str:
    """What a terminal finally shows for a line rewritten with carriage returns."""
    line = line.rstrip("\r")
    if "\r" not in line:
        return line
    for part in reversed(line.split("\r")):
        if part:
            return part
    return ""


def _utf8_cut(buf: bytes | bytearray, limit: int) -> int:
    """An index ≤ limit that does not split a UTF-8 character."""
    i = limit
    while i > limit - 4 and i > 0 and (buf[i] & 0xC0) == 0x80:
        i -= 1
    return i if i > 0 else limit


class LineSplitter:
    __slots__ = ("_pending", "max_line")

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._pending = b""
        self.max_line = max_line

    def feed(self, data: bytes) -> list[str]:
        buf = self._pending + data if self._pending else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            self._pending = buf
            return self._split_oversized() if len(buf) > self.max_line else []
        self._pending = buf[cut + 1 :]
        lines = split_text(self._cut_long_lines(buf[:cut]).decode("utf-8", "replace"))
        if len(self._pending) > self.max_line:
            lines.extend(self._split_oversized())
        return lines

    def _cut_long_lines(self, whole: bytes) -> bytes:
        """`whole` (complete lines) with every line longer than max_line cut into pieces at
        character boundaries: a read may end a line far longer than one piece. The check is one
        split at C speed; the cutting runs only for the rare read that holds such a line."""
        if len(whole) <= self.max_line or max(map(len, whole.split(b"\n"))) <= self.max_line:
            return whole
        out = []
        for line in whole.split(b"\n"):
            while len(line) > self.max_line:
                i = _utf8_cut(line, self.max_line)
                out.append(line[:i])
                line = line[i:]
            out.append(line)
        return b"\n".join(out)

    def _split_oversized(self) -> list[str]:
        pieces = []
        buf = self._pending
        while len(buf) > self.max_line:
            i = _utf8_cut(buf, self.max_line)
            pieces.append(buf[:i].decode("utf-8", "replace"))
            buf = buf[i:]
        self._pending = buf
        return split_text("\n".join(pieces))

    def redraw(self) -> str | None:
        """What the unfinished line shows now while it is being redrawn with `\\r`, else None:
        the live-only "partial" (jobs/log/partial.py). A character cut by the read is left out."""
        pending = self._pending
        if b"\r" not in pending:
            return None
        return split_text(pending.decode("utf-8", "ignore"))[0]

    def finish(self) -> list[str]:
        """The last line when the stream ended without a newline."""
        rest, self._pending = self._pending, b""
        return split_text(rest.decode("utf-8", "replace")) if rest else []
