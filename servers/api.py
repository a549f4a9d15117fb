from __future__ import annotations

from datetime import datetime

from django.http import Http404
from ninja import Field, Router, Schema

from servers.models import Server
from servers.services import create_or_update_server

router = Router(tags=["servers"])


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
    name: str = Field(..., min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")
    host: str = Field(..., min_length=1, max_length=255)
    port: int = Field(22, ge=1, le=65535)
    username: str = Field("root", min_length=1, max_length=64)
    private_key: str | None = Field(None, max_length=64 * 1024, description="OpenSSH/PEM private key (write-only)")
    passphrase: str | None = Field(None, max_length=1024, description="Private key passphrase (write-only)")
    password: str | None = Field(None, max_length=1024, description="SSH password (write-only)")
    tags: list[str] = Field(default_factory=list, max_length=50)
    description: str = Field("", max_length=2000)
    max_concurrent_jobs: int = Field(4, ge=1, le=1000)


def get_server_or_404(name: str) -> Server:
    server = Server.objects.select_related("credential").filter(name=name).first()
    if server is None:
        raise Http404(f"No server named {name!r}.")
    return server


@router.get("", response=list[ServerOut], summary="List servers")
def list_servers(request):
    return list(Server.objects.all())


@router.post("", response={201: ServerOut, 200: ServerOut}, summary="Register (or update) a server")
def create_server(request, payload: ServerIn):
    server, created = create_or_update_server(**payload.dict())
    return (201 if created else 200), server


@router.get("/{name}", response=ServerOut, summary="One server")
def server_detail(request, name: str):
    return get_server_or_404(name)
