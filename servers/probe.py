"""The "Test connection" of the server pages: the host key first, the login only once trusted.

The key comes from a key-exchange-only probe (servers.ssh.first_contact_key): no credential is
sent. A login follows only when the key is the pinned one or the person testing confirmed its
fingerprint, and that login accepts exactly that key, so a password never reaches a host whose
key nobody checked. Nothing is stored here: pinning is the caller's, after the person confirmed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncssh

from servers import ssh
from servers.guards import secrets_follow_denial
from servers.models import Server
from servers.permissions import NotPermitted
from servers.services import audit, fingerprints_of, stored_secrets

TIMEOUT = ssh.DEFAULT_CONNECT_TIMEOUT


@dataclass(frozen=True)
class ConnectionReport:
    address: str  # host:port that was probed
    public_key: str
    fingerprint: str
    key_type: str
    pinned_fingerprint: str = ""  # the pin the server has now ("" when none)
    login_tried: bool = False
    logged_in_as: str = ""
    problem: str = ""  # why the login failed or was not tried, in words

    @property
    def matches_pin(self) -> bool | None:
        return None if not self.pinned_fingerprint else self.pinned_fingerprint == self.fingerprint

    def as_json(self) -> dict:
        return {
            "ok": True,
            "address": self.address,
            "public_key": self.public_key,
            "fingerprint": self.fingerprint,
            "key_type": self.key_type,
            "pinned_fingerprint": self.pinned_fingerprint,
            "matches_pin": self.matches_pin,
            "login_tried": self.login_tried,
            "logged_in_as": self.logged_in_as,
            "problem": self.problem,
        }


def probe_host(*, host: str, port: int, username: str = "root", name: str = "the server") -> ssh.SeenHostKey:
    """The key the host presents, from a key exchange alone. ssh.SshError when unreachable."""
    target = ssh.Target(name=name, host=host, port=port, username=username)
    return asyncio.run(ssh.first_contact_key(target, timeout=TIMEOUT))


def try_connection(
    *,
    host: str,
    port: int,
    username: str,
    name: str = "the server",
    private_key: str = "",
    passphrase: str = "",
    password: str = "",
    pinned_key: str = "",
    confirmed_fingerprint: str = "",
) -> ConnectionReport:
    """Probe the host key; log in (and run `id -un`) only when it is pinned or confirmed.
    ssh.SshError when the host cannot be reached at all."""
    seen = probe_host(host=host, port=port, username=username, name=name)
    pinned = sorted(fingerprints_of(pinned_key))
    report = dict(
        address=f"{host}:{port}",
        public_key=seen.public_key,
        fingerprint=seen.fingerprint,
        key_type=seen.public_key.split(None, 1)[0],
        pinned_fingerprint=", ".join(pinned),
    )
    if pinned and seen.fingerprint not in pinned:
        problem = (
            "The host presents another key than the pinned one; no credential was sent. "
            "If the change is expected, re-pin the host key."
        )
        return ConnectionReport(**report, problem=problem)
    if not pinned and confirmed_fingerprint != seen.fingerprint:
        problem = "Not logged in yet: no credential is sent before you confirm this fingerprint."
        return ConnectionReport(**report, problem=problem)
    if not (private_key or password):
        return ConnectionReport(**report, problem="Not logged in: give a private key or a password to test the login.")
    target = ssh.Target(
        name=name,
        host=host,
        port=port,
        username=username,
        private_key=private_key,
        passphrase=passphrase,
        password=password,
        host_key=seen.public_key,
    )
    try:
        who = asyncio.run(_login(target))
    except ssh.AuthenticationFailed as exc:
        return ConnectionReport(**report, login_tried=True, problem=_refused(target, str(exc)))
    except ssh.SshError as exc:
        return ConnectionReport(**report, login_tried=True, problem=str(exc))
    return ConnectionReport(**report, login_tried=True, logged_in_as=who or username)


def test_connection(
    *,
    actor,
    server: Server | None,
    host: str,
    port: int,
    username: str,
    typed: dict,
    confirmed_fingerprint: str = "",
    name: str = "",
    via: str = "web",
) -> ConnectionReport:
    """ "Test connection" from a server's form, with the secrets it may use, as an audit event.

    The stored secrets go only to the stored address; for another address they need the
    manage-credentials permission (servers.services.secrets_follow_denial), else the person
    types them again. NotPermitted says so; ssh.SshError when the host cannot be reached."""
    typed = {k: v for k, v in typed.items() if v}
    same_address = server is not None and (host, port) == (server.host, server.port)
    secrets, used = dict(typed), "typed" if typed else "none"
    if server is not None and server.credential_id is not None:
        if same_address or secrets_follow_denial(actor=actor, server=server) is None:
            secrets = {**stored_secrets(server), **typed}
            used = "stored+typed" if typed else "stored"
        elif not typed:
            raise NotPermitted(
                f"{host}:{port} is not {server.name}'s stored address, and its stored secrets go only there "
                "(unless you may manage credentials): type the private key or password to test this address."
            )
    name = server.name if server is not None else (name or "the server")
    audit(actor, "server.test_connection", name, via, address=f"{host}:{port}", secrets=used, moved=not same_address)
    return try_connection(
        host=host,
        port=port,
        username=username,
        name=name,
        pinned_key=server.host_key if same_address else "",
        confirmed_fingerprint=confirmed_fingerprint,
        **secrets,
    )


async def _login(target: ssh.Target) -> str:
    conn, _ = await ssh.connect(target, connect_timeout=TIMEOUT)
    try:
        result = await asyncio.wait_for(conn.run("id -un", check=False), timeout=TIMEOUT)
    except TimeoutError:
        raise ssh.SshError(f"Logged in to {target.address}, but `id -un` did not answer in {TIMEOUT:g} s.") from None
    except (OSError, asyncssh.Error) as exc:
        raise ssh.ConnectionDropped(f"The connection to {target.address} dropped: {exc}") from None
    finally:
        conn.close()
    output = result.stdout if isinstance(result.stdout, str) else ""
    return output.strip()


def _refused(target: ssh.Target, fallback: str) -> str:
    if "cannot be read" in fallback:
        return fallback
    who = f"{target.username}@{target.host}"
    if target.private_key and target.password:
        return f"The server refused both the key and the password for {who}."
    if target.private_key:
        return f"The server refused the key for {who}: is its public key in ~{target.username}/.ssh/authorized_keys?"
    return f"The server refused the password for {who}: a wrong password, or password logins are off."
