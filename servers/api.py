"""Servers over the JSON API. Secrets are write-only: no response schema has a field for them.

`POST /api/servers/` only creates (409 when the name exists); `PATCH /api/servers/<name>`
changes only the fields it is sent. Reading needs the view permission and shows only the
servers the user may use; changing needs the server permission, and any secret in the body
the credential permission too.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from django.http import Http404
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import AfterValidator, ConfigDict, StrictBool

from core.api_errors import Line, Text, error_responses
from servers import services
from servers import validators as v
from servers.models import Server
from servers.permissions import Action, check, server_usable, usable_servers

router = Router(tags=["servers"])

SERVER_NAME_PATTERN = r"^[-a-zA-Z0-9_]+$"
_SERVER_NAME = re.compile(SERVER_NAME_PATTERN)


def _field_check(check_one):
    def run(value: str) -> str:
        try:
            return check_one(value)
        except v.FieldError as exc:
            raise ValueError(str(exc)) from None

    return AfterValidator(run)


# The schema declares the same patterns the validators enforce (servers/validators.py);
# hosts are sent in ASCII form (an internationalised name as its xn-- IDNA form).
Host = Annotated[str, _field_check(lambda value: v.check_host(value, allow_unicode=False))]
Username = Annotated[str, _field_check(v.check_username)]
PythonInterpreter = Annotated[str, _field_check(v.check_python_interpreter)]
Fingerprint = Annotated[str, _field_check(v.check_fingerprint)]

HOST_FIELD = dict(min_length=1, max_length=v.HOST_MAX, json_schema_extra={"pattern": v.HOST_PATTERN})
HOST_DOC = "host name or IP address (ASCII; an internationalised name in its xn-- form)"
USERNAME_FIELD = dict(min_length=1, max_length=v.USERNAME_MAX, json_schema_extra={"pattern": v.USERNAME_PATTERN})
PYTHON_FIELD = dict(
    min_length=1,
    max_length=v.PYTHON_INTERPRETER_MAX,
    json_schema_extra={"pattern": v.PYTHON_INTERPRETER_PATTERN},
    description="Ansible's interpreter discovery mode, or an absolute path",
)
FINGERPRINT_FIELD = dict(
    min_length=50,
    max_length=50,
    json_schema_extra={"pattern": v.FINGERPRINT_PATTERN},
    description="SHA256 fingerprint of the host key the first contact must present (`ssh-keygen -lf`)",
)
TAG = Annotated[Line, Field(min_length=1, max_length=100)]


class ServerOut(Schema):
    name: str
    host: str
    port: int
    username: str
    tags: list
    description: str
    python_interpreter: str
    host_key_fingerprint: str = Field(description="pinned, or given by the operator and not yet seen")
    host_key_pinned_at: datetime | None
    max_concurrent_jobs: int
    has_credential: bool
    created_at: datetime

    @staticmethod
    def resolve_has_credential(obj: Server) -> bool:
        return obj.credential_id is not None


# What /api/docs shows and "Try it out" sends: real bodies, the same on every load (without them
# Swagger UI draws random text from each field's pattern).
SERVER_IN_EXAMPLE = {
    "name": "web-1",
    "host": "10.0.0.5",
    "port": 22,
    "username": "deploy",
    "password": "correct-horse-battery-staple",
    "tags": ["web", "prod"],
    "description": "Front web server, rack 2",
    "max_concurrent_jobs": 4,
}
SERVER_PATCH_EXAMPLE = {
    "description": "Front web server, moved to rack 4",
    "tags": ["web", "prod"],
    "max_concurrent_jobs": 8,
}


class ServerIn(Schema):
    # extra="forbid": a misspelt field is an error, not silently ignored
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SERVER_IN_EXAMPLE]})

    name: str = Field(
        ..., min_length=1, max_length=100, pattern=SERVER_NAME_PATTERN, description="letters, digits, - and _"
    )
    host: Host = Field(..., description=HOST_DOC, **HOST_FIELD)
    port: int = Field(22, ge=1, le=65535)
    username: Username = Field("root", description=v.USERNAME_HELP, **USERNAME_FIELD)
    private_key: Text | None = Field(None, max_length=64 * 1024, description="OpenSSH/PEM private key (write-only)")
    passphrase: Text | None = Field(None, max_length=1024, description="Private key passphrase (write-only)")
    password: Text | None = Field(None, max_length=1024, description="SSH password (write-only)")
    tags: list[TAG] = Field(default_factory=list, max_length=50)
    description: Text = Field("", max_length=2000)
    max_concurrent_jobs: int = Field(4, ge=1, le=1000)
    python_interpreter: PythonInterpreter = Field("auto_silent", **PYTHON_FIELD)
    host_key_fingerprint: Fingerprint | None = Field(None, **FINGERPRINT_FIELD)


def _no_null_defaults(schema: dict[str, Any]) -> None:
    # An omitted PATCH field means "unchanged": say nothing about a default (null is refused).
    for prop in schema.get("properties", {}).values():
        if prop.get("default", ...) is None:
            del prop["default"]
    schema["examples"] = [SERVER_PATCH_EXAMPLE]


class ServerPatch(Schema):
    """Only the fields sent change; `null` is refused (leave the field out instead)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_null_defaults)

    host: Host = Field(None, description=HOST_DOC + "; a new host or port forgets the pinned key", **HOST_FIELD)
    port: int = Field(None, ge=1, le=65535)
    username: Username = Field(None, description=v.USERNAME_HELP, **USERNAME_FIELD)
    private_key: Text = Field(None, max_length=64 * 1024, description="OpenSSH/PEM private key (write-only)")
    passphrase: Text = Field(None, max_length=1024, description="Private key passphrase (write-only)")
    password: Text = Field(None, max_length=1024, description="SSH password (write-only; empty removes it)")
    tags: list[TAG] = Field(None, max_length=50)
    description: Text = Field(None, max_length=2000)
    max_concurrent_jobs: int = Field(None, ge=1, le=1000)
    python_interpreter: PythonInterpreter = Field(None, **PYTHON_FIELD)
    host_key_fingerprint: Fingerprint = Field(None, **FINGERPRINT_FIELD)
    reset_host_key: StrictBool = Field(None, description="forget the pinned host key (the next contact pins again)")


def get_server_or_404(name: str, *, user) -> Server:
    """The server named `name` if `user` may use it. A server limited to groups they are not in
    answers like an unknown name (404), so restricted names cannot be probed."""
    # A name that cannot exist is not looked up: NUL and friends never reach the database.
    if not _SERVER_NAME.fullmatch(name or "") or len(name) > 100:
        raise Http404(f"No server named {name!r}.")
    server = Server.objects.select_related("credential").filter(name=name).first()
    if server is None or not server_usable(user, server):
        raise Http404(f"No server named {name!r}.")
    return server


@router.get("", response={200: list[ServerOut], **error_responses()}, summary="List the servers you may use")
def list_servers(request):
    check(request.user, Action.VIEW)
    return list(usable_servers(request.user))


@router.post(
    "",
    response={201: ServerOut, **error_responses(400, 409, 413, 422)},
    summary="Register a server (409 when the name exists: change it with PATCH)",
)
def create_server(request, payload: ServerIn):
    try:
        server = services.create_server(**payload.dict(), actor=request.user, via="api")
    except services.ServerExists as exc:
        raise HttpError(409, str(exc)) from None
    return Status(201, server)


@router.get("/{name}", response={200: ServerOut, **error_responses(404)}, summary="One server")
def server_detail(request, name: str):
    check(request.user, Action.VIEW)  # no role: told so, not "no such server"
    server = get_server_or_404(name, user=request.user)
    check(request.user, Action.VIEW, server=server)
    return server


@router.patch(
    "/{name}",
    response={200: ServerOut, **error_responses(400, 404, 413, 422)},
    summary="Change the fields sent, and only those",
)
def patch_server(request, name: str, payload: ServerPatch):
    check(request.user, Action.VIEW)
    server = get_server_or_404(name, user=request.user)
    check(request.user, Action.VIEW, server=server)
    return services.update_server(server=server, actor=request.user, via="api", **payload.dict(exclude_unset=True))
