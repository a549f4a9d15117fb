"""Answers under /api/ are always JSON, also when Django itself refuses a request."""

import logging
import zoneinfo
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.utils import timezone

logger = logging.getLogger("livchat.api")

API_PREFIX = "/api/"


def too_big_message() -> str:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    size = f"{limit / (1024 * 1024):g} MiB" if limit and limit >= 1024 * 1024 else f"{limit} bytes"
    return f"Request body too large: the limit is {size}."


class JsonErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path_info.startswith(API_PREFIX) and response.status_code >= 400 and not _is_json(response):
            # Django's own refusals (unknown URL, wrong method, ...) are HTML pages.
            replacement = JsonResponse({"error": _reason(response.status_code)}, status=response.status_code)
            for header in ("Allow", "WWW-Authenticate", "Retry-After"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response

    def process_exception(self, request, exception):
        if not request.path_info.startswith(API_PREFIX):
            return None
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse({"error": too_big_message()}, status=413)
        logger.error("Unhandled error on %s %s", request.method, request.path, exc_info=exception)
        return JsonResponse({"error": "Internal error; it has been logged."}, status=500)


def _reason(status: int) -> str:
    if status == 404:
        return "Not found."
    if status == 405:
        return "Method not allowed."
    try:
        return HTTPStatus(status).phrase + "."
    except ValueError:
        return "Request failed."


def _is_json(response) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


class WebsocketOriginValidator:
    """ASGI middleware: a websocket is accepted only from this site's own pages.

    The rule is Django's CSRF Origin check applied to the handshake: the Origin must be
    `scheme://host` of the request itself (its Host header, which must pass ALLOWED_HOSTS,
    and https when the request is known to be secure), or match DJANGO_CSRF_TRUSTED_ORIGINS.
    ALLOWED_HOSTS alone is not enough: with `*` (common behind a proxy) it would let any
    page on the web open a socket with the visitor's session cookie.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            reason = websocket_origin_refusal(scope)
            if reason is not None:
                logger.warning("Websocket to %s refused: %s", scope.get("path", "?"), reason)
                from channels.security.websocket import WebsocketDenier

                return await WebsocketDenier()(scope, receive, send)
        return await self.app(scope, receive, send)


def websocket_origin_refusal(scope) -> str | None:
    """None when the handshake's Origin is this site's own, else why it is refused."""
    from django.http.request import split_domain_port, validate_host
    from django.utils.http import is_same_domain

    headers: dict[bytes, str] = {}
    for name, value in scope.get("headers", ()):
        headers.setdefault(name.lower(), value.decode("latin-1"))
    origin = headers.get(b"origin", "").strip().lower()
    if not origin:
        return "no Origin header"
    trusted = [o.lower() for o in settings.CSRF_TRUSTED_ORIGINS]
    if origin in trusted:
        return None
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return f"malformed Origin {origin!r}"
    for pattern in trusted:
        if "*" in pattern:
            p = urlsplit(pattern)
            if p.scheme == parsed.scheme and is_same_domain(parsed.netloc, p.netloc.lstrip("*")):
                return None
    host = headers.get(b"host", "").strip().lower()
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return f"Host {host!r} is missing or not in ALLOWED_HOSTS"
    scheme = "https" if _is_secure(scope, headers) else "http"
    if origin != f"{scheme}://{host}":
        return f"Origin {origin!r} is neither {scheme}://{host} nor in CSRF_TRUSTED_ORIGINS"
    return None


def _is_secure(scope, headers: dict[bytes, str]) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not proxy:
        return False
    name, expected = proxy
    header = name.removeprefix("HTTP_").lower().replace("_", "-").encode()
    value = headers.get(header, "")
    return value.split(",", 1)[0].strip() == expected


TIMEZONE_COOKIE = "livchat_tz"  # set by static/js/clock.js to the browser's IANA zone


class ViewerTimezone:
    """Server-rendered times (pages without JavaScript, the admin) in the viewer's own zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = _zone(request.COOKIES.get(TIMEZONE_COOKIE, ""))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        return self.get_response(request)


def _zone(name: str):
    name = unquote(name)  # tolerate a percent-encoded cookie ("America%2FNew_York")
    if not name or len(name) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
