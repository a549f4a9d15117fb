"""/mcp over streamable HTTP, inside the ASGI application daphne serves with the pages.

Auth is LivChat's own API tokens (`Authorization: Bearer …`, accounts.services.user_for_token,
the same check as the JSON API): none or invalid is a 401 JSON answer before the SDK sees the
request. The user rides in the ASGI scope to the tools (livchat.mcp.pages.who), and as the SDK's
`AuthenticatedUser`, so a session opened by one user and scope cannot be used by another.

daphne sends no ASGI lifespan events, and the SDK's session manager must run before the first
request: it is started on the first /mcp request (under a lock) and then kept running.
"""

from __future__ import annotations

import asyncio
import json
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.transport_security import TransportSecuritySettings

from accounts.services import user_for_token
from livchat.api_auth import AUTH_REQUIRED, BAD_TOKEN
from livchat.mcp.pages import SCOPE_USER
from livchat.mcp.server import build_server
from servers.permissions import token_scope

logger = logging.getLogger("livchat.mcp")
PATH = "/mcp"


def transport_security() -> TransportSecuritySettings:
    """Host and Origin checks (DNS rebinding) from ALLOWED_HOSTS, any port."""
    hosts = [h for h in settings.ALLOWED_HOSTS if h]
    if "*" in hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    names = [h.lstrip(".") for h in hosts]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[p for h in names for p in (h, f"{h}:*")],
        allowed_origins=[f"{s}://{h}{port}" for h in names for s in ("http", "https") for port in ("", ":*")],
    )


def _bearer(scope) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == b"authorization":
            text = value.decode("latin-1").strip()
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
            return ""
    return None


async def _refuse(send, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Bearer realm="mcp"'),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class McpApp:
    """The ASGI app behind /mcp: bearer auth, then the SDK's streamable HTTP session manager."""

    def __init__(self) -> None:
        self.mcp = build_server()
        self.mcp.streamable_http_app(streamable_http_path=PATH, transport_security=transport_security())
        self.manager = self.mcp.session_manager
        self._lock = asyncio.Lock()
        self._runner: asyncio.Task | None = None

    async def _started(self) -> None:
        if self._runner is not None and not self._runner.done():
            return
        async with self._lock:
            if self._runner is None:
                ready = asyncio.Event()
                self._runner = asyncio.ensure_future(self._run(ready))
                await ready.wait()

    async def _run(self, ready: asyncio.Event) -> None:
        try:
            async with self.manager.run():
                ready.set()
                await asyncio.Event().wait()  # for the life of the process
        except Exception:
            logger.exception("The MCP session manager stopped; /mcp answers no more until a restart.")
            raise
        finally:
            ready.set()

    async def __call__(self, scope, receive, send) -> None:
        token = _bearer(scope)
        if not token:
            await _refuse(send, AUTH_REQUIRED)
            return
        user = await sync_to_async(user_for_token, thread_sensitive=False)(token)
        if user is None:
            await _refuse(send, BAD_TOKEN)
            return
        principal = AccessToken(
            token="-",  # never kept: the session is bound to the user and scope, not the secret
            client_id=f"user-{user.pk}-{token_scope(user)}",
            scopes=[token_scope(user) or ""],
            subject=user.get_username(),
        )
        await self._started()
        scope = dict(scope, user=AuthenticatedUser(principal))
        scope[SCOPE_USER] = user
        await self.manager.handle_request(scope, receive, send)


def with_mcp(django_app):
    """`django_app` for every path but /mcp (and below), which goes to the MCP server."""
    mcp_app: McpApp | None = None

    async def app(scope, receive, send):
        nonlocal mcp_app
        path = scope.get("path", "")
        if path == PATH or path.startswith(PATH + "/"):
            if mcp_app is None:
                mcp_app = McpApp()
            await mcp_app(scope, receive, send)
            return
        await django_app(scope, receive, send)

    return app
