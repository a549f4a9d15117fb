"""Server and credential use cases (plain functions, keyword-only arguments)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from servers import crypto
from servers.models import Credential, Server
from servers.ssh import SeenHostKey, Target


class ServerInputError(ValueError):
    """Input a person can fix; the message says how."""


def target_for(server: Server) -> Target:
    cred = server.credential
    return Target(
        name=server.name,
        host=server.host,
        port=server.port,
        username=server.username,
        private_key=crypto.decrypt(cred.private_key_enc) if cred else "",
        passphrase=crypto.decrypt(cred.passphrase_enc) if cred else "",
        password=crypto.decrypt(cred.password_enc) if cred else "",
        host_key=server.host_key,
    )


def set_credential_secrets(
    *,
    credential: Credential,
    private_key: str | None = None,
    passphrase: str | None = None,
    password: str | None = None,
) -> Credential:
    """Encrypt and store the secrets that were given; None keeps the stored value."""
    if private_key is not None:
        _check_private_key(private_key, passphrase)
        credential.private_key_enc = crypto.encrypt(private_key)
    if passphrase is not None:
        credential.passphrase_enc = crypto.encrypt(passphrase)
    if password is not None:
        credential.password_enc = crypto.encrypt(password)
    return credential


def _check_private_key(private_key: str, passphrase: str | None) -> None:
    if not private_key:
        return
    import asyncssh

    try:
        asyncssh.import_private_key(private_key, passphrase or None)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise ServerInputError(f"The private key cannot be read: {exc}") from None


@transaction.atomic
def create_or_update_server(
    *,
    name: str,
    host: str,
    port: int = 22,
    username: str = "root",
    private_key: str | None = None,
    passphrase: str | None = None,
    password: str | None = None,
    tags: list[str] | None = None,
    max_concurrent_jobs: int | None = None,
    description: str | None = None,
    reset_host_key: bool = False,
) -> tuple[Server, bool]:
    """Create the server (and its credential) or update the fields that were given."""
    if not 1 <= int(port) <= 65535:
        raise ServerInputError("port must be between 1 and 65535.")
    server = Server.objects.filter(name=name).select_for_update().first()
    created = server is None
    if created:
        server = Server(name=name)
    server.host, server.port, server.username = host, int(port), username
    if tags is not None:
        server.tags = list(tags)
    if max_concurrent_jobs is not None:
        if max_concurrent_jobs < 1:
            raise ServerInputError("max_concurrent_jobs must be at least 1.")
        server.max_concurrent_jobs = max_concurrent_jobs
    if description is not None:
        server.description = description
    if any(v is not None for v in (private_key, passphrase, password)):
        cred = server.credential or Credential(name=_free_credential_name(name))
        set_credential_secrets(credential=cred, private_key=private_key, passphrase=passphrase, password=password)
        cred.save()
        server.credential = cred
    if reset_host_key:
        server.host_key, server.host_key_fingerprint, server.host_key_pinned_at = "", "", None
    try:
        server.full_clean(exclude=["credential"])
    except ValidationError as exc:
        raise ServerInputError(_validation_message(exc)) from None
    server.save()
    return server, created


def _free_credential_name(base: str) -> str:
    name, n = base, 1
    while Credential.objects.filter(name=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def pin_host_key(*, server_id: int, seen: SeenHostKey) -> None:
    """Record the key seen on first contact, unless another job pinned one meanwhile."""
    Server.objects.filter(pk=server_id, host_key="").update(
        host_key=seen.public_key, host_key_fingerprint=seen.fingerprint, host_key_pinned_at=timezone.now()
    )


def reset_host_key(*, server: Server) -> None:
    Server.objects.filter(pk=server.pk).update(host_key="", host_key_fingerprint="", host_key_pinned_at=None)


def _validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)
