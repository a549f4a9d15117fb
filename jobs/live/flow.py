"""Websocket flow control: what a socket may have in flight, and how many sockets a user may hold.

The problem: an ASGI `send()` returns as soon as daphne has handed the frame to Twisted,
which buffers whatever the client does not read, without limit. Nothing of that buffer is
visible to the application (daphne's `handle_reply` is a plain `transport.write`; there
is no awaitable drain, no high-water mark), so a consumer that "waits on the transport"
cannot be written against daphne; and behind a proxy the transport would only show the
proxy's buffer anyway. LivChat therefore uses **client acknowledgements**:

- Every message a consumer sends through `FlowControl.send_counted` carries a one-time
  token, `"ack": "<token>"`. The client answers `{"type": "ack", "ack": "<token>"}` once it
  has handled (rendered) that message; it may add `"seq"` (the last seq it rendered), which
  the server ignores. An ack releases that message and every message sent before it.
- The bytes sent and not yet acknowledged never exceed `WINDOW_BYTES` (1 MiB): before a
  message is sent, the sender waits until it fits. (A single message larger than the window
  alone is sent when nothing else is in flight; `MESSAGE_BYTES` keeps line batches far
  below that.) A client that stops reading therefore holds at most about 1 MiB in daphne,
  and a socket that waits costs one idle coroutine, no database reads.
- The token is random, so a client can only acknowledge what it has actually read: acking
  a message requires its bytes, and TCP delivers them only after every byte before it.
  Unknown tokens are ignored.
- A `ping` is answered with a `pong` (counted too) only while the window has room: a
  client that floods pings without reading gets no growing pile of pongs.
- Messages that end a socket (an error before a close code) are sent uncounted: at most one.
- Every client must acknowledge: one that does not gets about 1 MiB and then waits forever
  (static/js/lv-socket.js and dashboard.js ack each message; so does bench/live.py).

Sockets per user: at most `MAX_SOCKETS_PER_USER` (20) open sockets per user **in one
daphne process** (the count lives in process memory; with N daphne processes behind a
proxy a user may hold up to N × 20). The 21st is accepted, told why in an `error`
message, and closed with `CLOSE_TOO_MANY_SOCKETS` (4429). Closed sockets leave the count
on disconnect, and also when a consumer is garbage-collected without one (weak set).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import weakref
from collections import deque

WINDOW_BYTES = 1 << 20
MESSAGE_BYTES = 256 << 10  # a batch of lines is cut at about this many bytes of JSON
MAX_SOCKETS_PER_USER = 20
CLOSE_TOO_MANY_SOCKETS = 4429

_open_sockets: dict[int, weakref.WeakSet] = {}


class SendWindow:
    """Bytes in flight on one socket, released by acknowledged tokens."""

    def __init__(self, limit: int = WINDOW_BYTES) -> None:
        self.limit = limit
        self.unacked = 0
        self._inflight: deque[tuple[str, int]] = deque()
        self._tokens: set[str] = set()  # those in _inflight: an unknown token costs O(1)
        self._room = asyncio.Event()

    def has_room(self, size: int) -> bool:
        return self.unacked == 0 or self.unacked + size <= self.limit

    async def wait_for_room(self, size: int) -> None:
        while not self.has_room(size):
            self._room.clear()
            await self._room.wait()

    def sent(self, token: str, size: int) -> None:
        self._inflight.append((token, size))
        self._tokens.add(token)
        self.unacked += size

    def ack(self, token: object) -> bool:
        """Release the message with this token and all before it; False for an unknown token."""
        if not isinstance(token, str) or token not in self._tokens:
            return False
        while self._inflight:
            sent_token, size = self._inflight.popleft()
            self._tokens.discard(sent_token)
            self.unacked -= size
            if sent_token == token:
                break
        self._room.set()
        return True


def open_sockets(user_pk: int) -> int:
    return len(_open_sockets.get(user_pk, ()))


class FlowControl:
    """Mixin for the websocket consumers: counted sends, acks, and the per-user socket cap."""

    window: SendWindow | None = None
    _admitted_pk: int | None = None

    async def admit(self) -> bool:
        """After accept(): take one of the user's sockets, or explain and close (False)."""
        self.window = SendWindow()
        user = self.scope.get("user")
        pk = getattr(user, "pk", None)
        if pk is None:
            return True
        sockets = _open_sockets.setdefault(pk, weakref.WeakSet())
        if len(sockets) >= MAX_SOCKETS_PER_USER:
            await self.send(
                text_data=json.dumps(
                    {
                        "type": "error",
                        "error": f"Too many open live views: at most {MAX_SOCKETS_PER_USER} per user. "
                        "Close some tabs or terminals and try again.",
                    }
                )
            )
            await self.close(code=CLOSE_TOO_MANY_SOCKETS)
            return False
        sockets.add(self)
        self._admitted_pk = pk
        return True

    def release(self) -> None:
        pk = self._admitted_pk
        if pk is None:
            return
        self._admitted_pk = None
        sockets = _open_sockets.get(pk)
        if sockets is not None:
            sockets.discard(self)
            if not sockets:
                _open_sockets.pop(pk, None)

    async def send_counted(self, payload: dict) -> None:
        """Send `payload` with an ack token, after waiting until it fits in the window."""
        await self.send_counted_fragment(json.dumps(payload)[:-1])

    async def send_counted_fragment(self, fragment: str) -> None:
        """Send a JSON object given without its closing brace (a batch encoded once for many
        viewers, jobs/live/fanout.py), with this socket's ack token added."""
        if self.window is None:
            self.window = SendWindow()
        token = secrets.token_urlsafe(6)  # URL-safe characters: nothing to escape in JSON
        separator = "" if fragment.rstrip().endswith("{") else ", "  # an empty object has no member before
        text = f'{fragment}{separator}"ack": "{token}"}}'
        size = len(text)  # json.dumps escapes to ASCII: characters are bytes
        await self.window.wait_for_room(size)
        self.window.sent(token, size)
        await self.send(text_data=text)

    async def handle_flow_message(self, content) -> bool:
        """An `ack` or `ping` from the client; True when it was one of those."""
        if not isinstance(content, dict) or self.window is None:
            return False
        kind = content.get("type")
        if kind == "ack":
            self.window.ack(content.get("ack"))
            return True
        if kind == "ping":
            # Never wait here: acks arrive through this same receive loop.
            if self.window.has_room(64):
                token = secrets.token_urlsafe(6)
                text = json.dumps({"type": "pong", "ack": token})
                self.window.sent(token, len(text))
                await self.send(text_data=text)
            return True
        return False
