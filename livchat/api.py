"""The JSON API: one NinjaAPI, routers from the apps, errors always `{"error": "..."}`."""

from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from accounts.auth import api_auth
from jobs.api import jobs_router, playbooks_router, server_exec_router
from jobs.services import JobInputError
from servers.api import router as servers_router
from servers.services import ServerInputError

api = NinjaAPI(
    title="LivChat API",
    version="1.0",
    description="Run shell commands and Ansible playbooks on servers and read their output live.",
    auth=api_auth,
    urls_namespace="api",
    openapi_url="/schema",
    docs_url="/docs",
)
api.add_router("/servers/", servers_router)
api.add_router("/servers/", server_exec_router)
api.add_router("/playbooks/", playbooks_router)
api.add_router("/jobs/", jobs_router)


def _error(request, message: str, status: int):
    return api.create_response(request, {"error": message}, status=status)


@api.exception_handler(ValidationError)
def _validation(request, exc: ValidationError):
    parts = []
    for err in exc.errors:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "payload", "query", "path"))
        parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else err.get("msg", "invalid"))
    return _error(request, "Invalid input: " + "; ".join(parts), 422)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return _error(
        request, "Authentication required: log in as a staff user or send 'Authorization: Bearer <token>'.", 401
    )


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    message = str(exc)
    if message.startswith("Cannot parse request body"):
        message = "The request body is not valid JSON."
    return _error(request, message, exc.status_code)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _error(request, str(exc) if str(exc) else "Not found.", 404)


@api.exception_handler(JobInputError)
@api.exception_handler(ServerInputError)
def _bad_input(request, exc):
    return _error(request, str(exc), 400)
