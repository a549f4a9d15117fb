"""Server and credential use cases (plain functions, keyword-only arguments).

Every entry point (API, admin, `add_server`) goes through these, so the same rules hold
everywhere: inventory fields are validated (servers/validators.py), a server moved to another
host or port forgets its pinned host key, and, when an `actor` is given, the one permission
rule (servers.permissions) decides who may change servers and their credentials.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.services import record_event
from servers import crypto
from servers.guards import check_secrets_may_follow
from servers.models import Credential, Server
from servers.permissions import Action, check
from servers.ssh import HostKeyChanged, SeenHostKey, SshError, Target, fingerprint_of
from servers.validators import (
    FieldError,
    check_fingerprint,
    check_host,
    check_python_interpreter,
    check_server_name,
    check_username,
)

logger = logging.getLogger("servers.services")

SECRET_FIELDS = ("private_key", "passphrase", "password")
SERVER_FIELDS = ("host", "port", "username", "tags", "description", "max_concurrent_jobs", "python_interpreter")
UPDATABLE = frozenset({*SERVER_FIELDS, *SECRET_FIELDS, "host_key_fingerprint", "reset_host_key"})


class ServerInputError(ValueError):
    """Input a person can fix; the message says how."""


class ServerExists(ServerInputError):
    """A server with that name exists already (creating never overwrites one)."""


# ---- connecting ------------------------------------------------------------------------------
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
        expected_fingerprint="" if server.host_key else server.host_key_fingerprint,
        pin=_pin_hook(server.pk, server.host, server.port),
    )


def _pin_hook(server_id: int, host: str, port: int):
    async def pin(seen: SeenHostKey) -> str:
        return await sync_to_async(pin_host_key, thread_sensitive=False)(
            server_id=server_id, seen=seen, host=host, port=port
        )

    return pin


def pin_host_key(*, server_id: int, seen: SeenHostKey, host: str | None = None, port: int | None = None) -> str:
    """Pin the key seen on first contact unless one is pinned already; return the pinned key.

    The write is conditional (no key pinned yet; the operator's fingerprint, if any, is this
    key's; the server still has the address that was contacted) and the pin is read back:
    when two first contacts race, one wins and the other, seeing a different key, is refused
    with HostKeyChanged before it uses its connection.
    """
    rows = Server.objects.filter(pk=server_id, host_key="").filter(
        Q(host_key_fingerprint="") | Q(host_key_fingerprint=seen.fingerprint)
    )
    if host is not None:
        rows = rows.filter(host=host, port=port)
    rows.update(host_key=seen.public_key, host_key_fingerprint=seen.fingerprint, host_key_pinned_at=timezone.now())
    row = Server.objects.filter(pk=server_id).values("name", "host", "port", "host_key", "host_key_fingerprint").first()
    if row is None:
        raise SshError("The server was deleted while connecting to it.")
    if host is not None and (row["host"], row["port"]) != (host, port):
        raise SshError(f"Server {row['name']} was moved to another address while connecting to it; try again.")
    if not row["host_key"].strip():
        raise HostKeyChanged(
            f"Host key of {row['name']} is {seen.fingerprint}, not the fingerprint given for it "
            f"({row['host_key_fingerprint']}). Refusing to connect."
        )
    if seen.fingerprint not in fingerprints_of(row["host_key"]):
        raise HostKeyChanged(
            f"Host key of {row['name']} ({row['host']}:{row['port']}) is {seen.fingerprint}, but another "
            f"connection pinned {row['host_key_fingerprint']} meanwhile. Refusing to connect. If the pinned "
            f"key is wrong, re-pin with `manage.py add_server {row['name']} --reset-host-key`."
        )
    return row["host_key"]


def reset_host_key(*, server: Server, actor=None, via: str = "") -> None:
    if actor is not None:
        check(actor, Action.MANAGE_SERVERS, server=server)
    Server.objects.filter(pk=server.pk).update(host_key="", host_key_fingerprint="", host_key_pinned_at=None)
    audit(actor, "server.reset_host_key", server.name, via)


def pin_confirmed_key(*, server: Server, public_key: str, fingerprint: str) -> None:
    """Pin the key a person saw and confirmed (its fingerprint) on a server that has none pinned."""
    if fingerprints_of(public_key) != {fingerprint}:
        raise ServerInputError("The confirmed fingerprint is not that of the host key: test the connection again.")
    seen = SeenHostKey(public_key=public_key.strip(), fingerprint=fingerprint)
    pin_host_key(server_id=server.pk, seen=seen, host=server.host, port=server.port)


def repin_host_key(*, server: Server, seen: SeenHostKey, old_fingerprint: str, actor=None, via: str = "") -> bool:
    """Replace the pinned key with `seen`, which a person compared with `old_fingerprint`.
    False (nothing changed) when `seen` is pinned already; ServerInputError when the pin is no
    longer the one they saw."""
    if actor is not None:
        check(actor, Action.MANAGE_SERVERS, server=server)
    with transaction.atomic():
        current = Server.objects.select_for_update().filter(pk=server.pk).first()
        if current is None:
            raise ServerInputError(f"Server {server.name!r} no longer exists.")
        if current.host_key_fingerprint != old_fingerprint:
            raise ServerInputError(
                f"The pinned key of {current.name} changed while you were looking "
                f"(now {current.host_key_fingerprint or 'none'}): compare the fingerprints again."
            )
        if seen.fingerprint in fingerprints_of(current.host_key):
            return False
        Server.objects.filter(pk=current.pk).update(host_key="", host_key_fingerprint="", host_key_pinned_at=None)
        pin_host_key(server_id=current.pk, seen=seen, host=current.host, port=current.port)
    audit(actor, "server.repin", current.name, via, old=old_fingerprint, new=seen.fingerprint)
    return True


def stored_secrets(server: Server | None) -> dict:
    """The decrypted secrets of a server's credential (for a connection test), empty ones left out."""
    cred = server.credential if server is not None else None
    if cred is None:
        return {}
    found = {k: crypto.decrypt(getattr(cred, f"{k}_enc")) for k in SECRET_FIELDS}
    return {k: v for k, v in found.items() if v}


# ---- credentials -----------------------------------------------------------------------------
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


def check_private_key(*, private_key: str, passphrase: str | None = None) -> None:
    """ServerInputError saying why `private_key` cannot be used (the rule set_credential_secrets applies)."""
    _check_private_key(private_key, passphrase)


def _check_private_key(private_key: str, passphrase: str | None) -> None:
    if not private_key:
        return
    import asyncssh

    try:
        asyncssh.import_private_key(private_key, passphrase or None)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise ServerInputError(f"The private key cannot be read: {exc}") from None


def _attach_secrets(server: Server, secrets: dict) -> None:
    cred = server.credential or Credential(name=_free_credential_name(server.name))
    set_credential_secrets(credential=cred, **secrets)
    cred.save()
    server.credential = cred


def _free_credential_name(base: str) -> str:
    name, n = base, 1
    while Credential.objects.filter(name=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


# ---- servers ---------------------------------------------------------------------------------
def clean_server_fields(fields: dict) -> dict:
    """The given fields, validated and in stored form (hosts in their ASCII form)."""
    checks = {
        "host": check_host,
        "username": check_username,
        "python_interpreter": check_python_interpreter,
        "host_key_fingerprint": check_fingerprint,
    }
    cleaned = dict(fields)
    for name, check_one in checks.items():
        if cleaned.get(name) is not None:
            try:
                cleaned[name] = check_one(cleaned[name])
            except FieldError as exc:
                raise ServerInputError(f"{name}: {exc}") from None
    if cleaned.get("port") is not None and not 1 <= int(cleaned["port"]) <= 65535:
        raise ServerInputError("port must be between 1 and 65535.")
    if cleaned.get("max_concurrent_jobs") is not None and cleaned["max_concurrent_jobs"] < 1:
        raise ServerInputError("max_concurrent_jobs must be at least 1.")
    if cleaned.get("tags") is not None:
        cleaned["tags"] = list(cleaned["tags"])
    return cleaned


def create_server(
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
    python_interpreter: str | None = None,
    host_key_fingerprint: str | None = None,
    actor=None,
    via: str = "",
) -> Server:
    """A new server (and its credential). A name that exists raises ServerExists: nothing
    is overwritten. `host_key_fingerprint` is the key the first contact must present."""
    given = {"private_key": private_key, "passphrase": passphrase, "password": password}
    secrets = {k: v for k, v in given.items() if v is not None}
    if actor is not None:
        check(actor, Action.MANAGE_SERVERS)
        if secrets:
            check(actor, Action.MANAGE_CREDENTIALS)
    try:
        check_server_name(name)
    except FieldError as exc:
        raise ServerInputError(f"name: {exc}") from None
    fields = clean_server_fields(
        dict(
            host=host,
            port=int(port),
            username=username,
            tags=tags,
            max_concurrent_jobs=max_concurrent_jobs,
            description=description,
            python_interpreter=python_interpreter,
            host_key_fingerprint=host_key_fingerprint,
        )
    )
    if Server.objects.filter(name=name).exists():
        raise ServerExists(_exists_message(name))
    server = Server(name=name, **{k: v for k, v in fields.items() if v is not None})
    try:
        with transaction.atomic():
            if secrets:
                _attach_secrets(server, secrets)
            _full_clean(server)
            server.save()
    except IntegrityError:
        if Server.objects.filter(name=name).exists():
            raise ServerExists(_exists_message(name)) from None
        raise
    audit(actor, "server.create", name, via, credential=sorted(secrets) or None)
    return server


def update_server(*, server: Server, actor=None, via: str = "", **changes) -> Server:
    """Change only the fields given. A new host or port forgets the pinned host key (the next
    contact pins again before any credential is sent); `reset_host_key=True` forgets it too;
    `host_key_fingerprint` sets the key the next contact must present."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise TypeError(f"update_server() got unknown fields: {', '.join(sorted(unknown))}")
    secrets = {k: changes.pop(k) for k in SECRET_FIELDS if changes.get(k) is not None}
    reset = bool(changes.pop("reset_host_key", False))
    fields = clean_server_fields({k: v for k, v in changes.items() if v is not None})
    fingerprint = fields.pop("host_key_fingerprint", None)
    with transaction.atomic():
        current = Server.objects.select_for_update().select_related("credential").filter(pk=server.pk).first()
        if current is None:
            raise ServerInputError(f"Server {server.name!r} no longer exists.")
        if actor is not None:
            check(actor, Action.MANAGE_SERVERS, server=current)
            if secrets:
                check(actor, Action.MANAGE_CREDENTIALS, server=current)
        before = (current.host, current.port)
        changed = sorted(k for k, v in fields.items() if getattr(current, k) != v)
        for key, value in fields.items():
            setattr(current, key, value)
        moved = (current.host, current.port) != before
        if moved and actor is not None:
            check_secrets_may_follow(actor=actor, server=current)
        if moved or reset:
            _forget_host_key(current)
        if fingerprint is not None and fingerprint not in fingerprints_of(current.host_key):
            _forget_host_key(current)
            current.host_key_fingerprint = fingerprint
        if secrets:
            _attach_secrets(current, secrets)
        _full_clean(current)
        current.save()
    audit(
        actor,
        "server.update",
        current.name,
        via,
        fields=changed or None,
        credential=sorted(secrets) or None,
        host_key_forgotten=True if (moved or reset) else None,
        expected_fingerprint=fingerprint,
    )
    return current


def create_or_update_server(*, name: str, host: str, port: int = 22, username: str = "root", **fields):
    """For internal callers and test fixtures: create the server, or update the one with that
    name with every field given (host, port and username always). Returns (server, created)."""
    server = Server.objects.filter(name=name).first()
    if server is None:
        fields.pop("reset_host_key", None)  # a new server has no key to forget
        return create_server(name=name, host=host, port=port, username=username, **fields), True
    return update_server(server=server, host=host, port=port, username=username, **fields), False


# Job statuses that still hold a server (jobs.models.ACTIVE_STATUSES and awaiting_approval),
# spelt here because servers sits below jobs and reads them only through the reverse relation.
_BUSY_JOB_STATUSES = ("pending", "running", "awaiting_approval")


def delete_server(*, server: Server, actor=None, via: str = "") -> dict:
    """Delete a server. Its jobs and their logs stay (Job.server is SET_NULL, the many-server
    link is dropped): they list without a server. Templates aimed at it lose it as a target. Its
    credential goes too when no other server uses it. Refused while one of its jobs is active or
    waiting for approval: those would lose their target mid-way. Returns what changed."""
    if actor is not None:
        check(actor, Action.MANAGE_SERVERS, server=server)
    with transaction.atomic():
        current = Server.objects.select_for_update().filter(pk=server.pk).first()
        if current is None:
            raise ServerInputError(f"Server {server.name!r} no longer exists.")
        busy = current.all_jobs.filter(status__in=_BUSY_JOB_STATUSES).count()
        if busy:
            raise ServerInputError(
                f"{busy} job{'s' if busy != 1 else ''} on {current.name} {'is' if busy == 1 else 'are'} still "
                "running or waiting: cancel or finish them first, then delete the server."
            )
        impact = deletion_impact(server=current)
        credential_id = current.credential_id
        current.delete()
        orphan = credential_id is not None and not Server.objects.filter(credential_id=credential_id).exists()
        if orphan:
            Credential.objects.filter(pk=credential_id).delete()
    audit(actor, "server.delete", server.name, via, **impact, credential_deleted=orphan or None)
    return {**impact, "credential_deleted": orphan}


def deletion_impact(*, server: Server) -> dict:
    """What deleting `server` touches in its own history: its jobs (kept, without a server)."""
    return {"jobs": server.all_jobs.count()}


def record_contact(*, server_name: str, logged_in: bool, error: str = "", actor=None, via: str = "") -> None:
    """A connection test's outcome, kept as a `server.check` audit event: with the jobs that ran
    there, it is what the pages say about a server's last reachability (web/views/reachability.py)."""
    record_event(
        actor=actor, action="server.check", target=server_name, via=via, ok=logged_in, error=error[:500] or None
    )


def fingerprints_of(host_key: str) -> set[str]:
    """The fingerprints of pinned key line(s); an unreadable line counts as no key."""
    found = set()
    for line in filter(str.strip, host_key.splitlines()):
        try:
            found.add(fingerprint_of(line))
        except Exception:  # noqa: BLE001 - asyncssh raises several types for junk
            pass
    return found


def _forget_host_key(server: Server) -> None:
    server.host_key, server.host_key_fingerprint, server.host_key_pinned_at = "", "", None


def _exists_message(name: str) -> str:
    return (
        f"A server named {name!r} exists already; creating never overwrites one. Change it with "
        f"PATCH /api/servers/{name} (or `manage.py add_server {name} --update ...`)."
    )


def _full_clean(server: Server) -> None:
    try:
        # Name uniqueness is the database's to decide (create_server turns it into ServerExists).
        server.full_clean(exclude=["credential", "allowed_groups"], validate_unique=False)
    except ValidationError as exc:
        raise ServerInputError(_validation_message(exc)) from None


def audit(actor, action: str, target: str, via: str, **detail) -> None:
    """An audit event for what a person did to a server (nothing for internal calls)."""
    if actor is None and not via:
        return  # an internal call (fixtures, other services): nothing a person did
    record_event(actor=actor, action=action, target=target, via=via, **detail)


def _validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)
