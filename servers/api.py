"""Servers over the JSON API. Secrets are write-only: no response schema has a field for them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from django.http import Http404
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from livchat.api_errors import Line, Text, error_responses
from servers.models import Server
from servers.services import create_or_update_server

router = Router(tags=["servers"])

SERVER_NAME_PATTERN = r"^[-a-zA-Z0-9_]+$"
_SERVER_NAME = re.compile(SERVER_NAME_PATTERN)


class ServerOut(Schema):
    name: str
    host: str
    port: int
    username: str
    tags: list
    description: str
    host_key_fingerprint: str
    host_key_pinned_at: datetime | None
    max_concurrent_jobs: int
    has_credential: bool
    created_at: datetime

    @staticmethod
    def resolve_has_credential(obj: Server) -> bool:
        return obj.credential_id is not None


class ServerIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not silently ignored

    name: str = Field(
        ..., min_length=1, max_length=100, pattern=SERVER_NAME_PATTERN, description="letters, digits, - and _"
    )
    host: Line = Field(..., min_length=1, max_length=255, pattern=r"^[^\s/]+$", description="host name or IP address")
    port: int = Field(22, ge=1, le=65535)
    username: Line = Field("root", min_length=1, max_length=64, pattern=r"^[^\s:@/]+$")
    private_key: Text | None = Field(None, max_length=64 * 1024, description="OpenSSH/PEM private key (write-only)")
    passphrase: Text | None = Field(None, max_length=1024, description="Private key passphrase (write-only)")
    password: Text | None = Field(None, max_length=1024, description="SSH password (write-only)")
    tags: list[Annotated[Line, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=50)
    description: Text = Field("", max_length=2000)
    max_concurrent_jobs: int = Field(4, ge=1, le=1000)


def get_server_or_404(name: str) -> Server:
    # A name that cannot exist is not looked up: NUL and friends never reach the database.
    if not _SERVER_NAME.fullmatch(name or "") or len(name) > 100:
        raise Http404(f"No server named {name!r}.")
    server = Server.objects.select_related("credential").filter(name=name).first()
    if server is None:
        raise Http404(f"No server named {name!r}.")
    return server


@router.get("", response={200: list[ServerOut], **error_responses()}, summary="List servers")
def list_servers(request):
    return list(Server.objects.all())


@router.post(
    "",
    response={201: ServerOut, 200: ServerOut, **error_responses(400, 413, 422)},
    summary="Register a server (201), or update the one with that name (200)",
)
def create_server(request, payload: ServerIn):
    server, created = create_or_update_server(**payload.dict())
    return Status(201 if created else 200, server)


@router.get("/{name}", response={200: ServerOut, **error_responses(404)}, summary="One server")
def server_detail(request, name: str):
    return get_server_or_404(name)
