"""The JSON API: one NinjaAPI, routers from the apps, errors always `{"error": "..."}`."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from automation.api import router as templates_router
from jobs.api.approvals import approvals_router, job_approval_router
from jobs.api.diff import job_diff_router
from jobs.api.jobs import fleet_router, jobs_router, server_exec_router
from jobs.api.playbooks import playbooks_router
from jobs.api.policies import policies_router
from jobs.api.search import search_router
from jobs.policy.edit import PolicyInputError
from jobs.services import ApprovalConflict, ApprovalInputError, JobInputError
from livchat.api_auth import AUTH_REQUIRED, api_auth, api_login_view
from livchat.middleware import too_big_message
from servers.api import router as servers_router
from servers.permissions import NotPermitted
from servers.services import ServerInputError

logger = logging.getLogger("livchat.api")

api = NinjaAPI(
    title="LivChat API",
    version="1.0",
    description=(
        "Run shell commands and Ansible playbooks on servers and read their output live. "
        "Authenticate with 'Authorization: Bearer <token>' (manage.py create_token USER) or a "
        'session (unsafe methods then need the X-CSRFToken header). Errors are {"error": "..."}.'
    ),
    auth=api_auth,
    urls_namespace="api",
    openapi_url="/schema",
    docs_url="/docs",
    docs_decorator=api_login_view,
)
api.add_router("/servers/", servers_router)
api.add_router("/servers/", server_exec_router)
api.add_router("/playbooks/", playbooks_router)
api.add_router("/jobs/", jobs_router)
api.add_router("/jobs/", job_approval_router)
api.add_router("/policies/", policies_router)
api.add_router("/approvals/", approvals_router)
api.add_router("/templates/", templates_router)
api.add_router("/", fleet_router)
api.add_router("/logs/", search_router)
api.add_router("/jobs/", job_diff_router)


def _error(request, message: str, status: int):
    return api.create_response(request, {"error": message}, status=status)


@api.exception_handler(ValidationError)
def _validation(request, exc: ValidationError):
    parts = []
    for err in exc.errors:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "payload", "query", "path", "filters"))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if not loc and err.get("type") == "missing":
            msg = "a JSON object is required as the request body"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return _error(request, "Invalid input: " + "; ".join(parts), 422)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc: AuthenticationError):
    message = exc.message if exc.message and exc.message != "Unauthorized" else AUTH_REQUIRED
    response = _error(request, message, 401)
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


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


@api.exception_handler(PolicyInputError)
@api.exception_handler(ApprovalInputError)
def _bad_value(request, exc):
    return _error(request, str(exc), 422)


@api.exception_handler(ApprovalConflict)
def _conflict(request, exc):
    return _error(request, str(exc), 409)


@api.exception_handler(NotPermitted)
def _not_permitted(request, exc: NotPermitted):
    return _error(request, str(exc), 403)


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return _error(request, too_big_message(), 413)


@api.exception_handler(Exception)
def _unexpected(request, exc):
    # Replaces ninja's default, which answers with a plain-text traceback under DEBUG.
    logger.error("Unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return _error(request, "Internal error; it has been logged.", 500)
