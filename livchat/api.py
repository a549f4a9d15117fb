"""The JSON API: one NinjaAPI, routers from the apps, errors always `{"error": "..."}`."""

import json
import logging

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.docs import render_template

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

# Markdown (Swagger UI renders it): the placeholder sits in backticks, or `<token>` would be
# taken for an HTML tag and vanish.
DESCRIPTION = """Run shell commands and Ansible playbooks on servers and read their output live.

**Authentication.** Send `Authorization: Bearer <token>` with an API token: create one on the
[Tokens page](/accounts/tokens/) (or `manage.py create_token USER`), then press **Authorize**
here and paste it. Logged in to LivChat, this page also works with your session: "Try it out"
sends the `X-CSRFToken` header that a session needs on POST, PATCH and DELETE.

Errors are `{"error": "..."}` with a 4xx status."""


class SwaggerWithCsrf(Swagger):
    """Swagger UI whose "Try it out" sends the session's CSRF token as X-CSRFToken.

    Ninja adds the token only when an auth class checks CSRF itself; LivChat's SessionAuth checks
    it on its own terms (livchat.api_auth: only for requests a session authenticates), so the
    docs page asks for it here. A bearer token sent through "Authorize" needs none and ignores it."""

    def render_page(self, request, api, **kwargs):
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        context = {"swagger_settings": json.dumps(self.settings, indent=1), "api": api, "add_csrf": True}
        return render_template(request, self.template, self.template_cdn, context)


# Request bodies whose schema class does not carry its own example yet (its module is not the
# docs'); each schema class should hold its own, as servers/api.py and jobs/api/schemas.py do.
FALLBACK_EXAMPLES = {
    "PlaybookRunIn": {"playbook": "uptime.yml", "servers": ["web-1"], "check": False},
}


class LivChatAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = schema.get("components", {}).get("schemas", {})
        for name, example in FALLBACK_EXAMPLES.items():
            if name in components:
                components[name].setdefault("examples", [example])
        return schema


api = LivChatAPI(
    title="LivChat API",
    version="1.0",
    description=DESCRIPTION,
    auth=api_auth,
    urls_namespace="api",
    openapi_url="/schema",
    docs_url="/docs",
    docs=SwaggerWithCsrf(settings={"persistAuthorization": True}),
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
