"""API authentication: a session (with CSRF) or an `Authorization: Bearer` token.

Authentication only says who is asking; what they may do is decided per route by
`servers.permissions` (the one rule for every surface). `is_staff` plays no part here.

Order matters: the bearer token is tried first, so API clients never need a CSRF token.
A request that sends a bearer token is judged by that token alone (a wrong token is a 401
even if a session cookie also came along), and CSRF is only checked for requests that
really are authenticated by a session, so an anonymous POST gets a 401, not a CSRF 403.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from ninja.errors import AuthenticationError, AuthorizationError, HttpError
from ninja.security import APIKeyCookie, HttpBearer

from accounts.services import user_for_token
from servers.permissions import Action, denial

AUTH_REQUIRED = "Authentication required: log in or send 'Authorization: Bearer <token>'."
INACTIVE = "This account is inactive."
BAD_TOKEN = "Invalid API token: it is unknown, expired, revoked or belongs to an inactive user."
CSRF_FAILED = (
    "CSRF check failed ({reason}): a POST authenticated by a session cookie must send the "
    "X-CSRFToken header with the value of the csrftoken cookie. Scripts should use "
    "'Authorization: Bearer <token>' instead."
)


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, answering with the reason instead of a 403 page."""

    def _reject(self, request, reason):
        return str(reason)


def csrf_failure_reason(request) -> str | None:
    """None when the request passes Django's CSRF check, else Django's reason."""
    check = _CsrfCheck(lambda req: None)
    if request.method == "POST":
        # Django's check reads request.POST; for a multipart body that consumes the stream
        # and the API's own read of request.body would then fail. Reading the body first
        # makes both parse the same cached bytes (and enforces the upload size limit).
        request.body  # noqa: B018
    request.csrf_processing_done = False
    check.process_request(request)
    return check.process_view(request, _no_view, (), {})


def _no_view(request):  # pragma: no cover - never called, only inspected by the CSRF check
    return None


class SessionAuth(APIKeyCookie):
    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=False)  # checked below, only for authenticated sessions

    def authenticate(self, request, key):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if not getattr(request, "_ninja_csrf_exempt", False):
            reason = csrf_failure_reason(request)
            if reason is not None:
                raise HttpError(403, CSRF_FAILED.format(reason=reason.rstrip(".")))
        if not user.is_active:
            raise AuthorizationError(message=INACTIVE)
        return user


class BearerToken(HttpBearer):
    def authenticate(self, request, token):
        user = user_for_token(token.strip())
        if user is None:
            raise AuthenticationError(message=BAD_TOKEN)
        request.user = user
        return user


api_auth = [BearerToken(), SessionAuth()]


def user_for_request(request):
    """The user a request authenticates as, for views outside the API routers.

    Raises the same errors as the API auth (401 / 403), so the schema and docs pages
    answer like every other route.
    """
    for auth in api_auth:
        user = auth(request)
        if user:
            return user
    raise AuthenticationError(message=AUTH_REQUIRED)


DOCS_URL_NAME = "openapi-view"  # ninja's name for the Swagger UI page (the schema is "openapi-json")


def api_login_view(view):
    """Protect a plain Django view (the OpenAPI document, the docs page) with the API's
    authentication. Logged out, the docs page (a page people open) sends them to the login page
    and back; the schema (read by programs) answers its JSON 401."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            request.auth = user_for_request(request)
        except HttpError as exc:
            match = getattr(request, "resolver_match", None)
            if exc.status_code == 401 and match is not None and match.url_name == DOCS_URL_NAME:
                return redirect_to_login(request.get_full_path())
            response = JsonResponse({"error": exc.message}, status=exc.status_code)
            if exc.status_code == 401:
                response["WWW-Authenticate"] = 'Bearer realm="api"'
            return response
        reason = denial(request.auth, Action.VIEW)
        if reason is not None:
            return JsonResponse({"error": reason}, status=403)
        return view(request, *args, **kwargs)

    return wrapped
