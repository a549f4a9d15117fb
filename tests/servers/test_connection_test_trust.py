"""Issue 19, item 5: "Test connection" never sends a server's stored secrets to another address
unless the person may manage credentials, and every test is an audit event. Against the real
test sshd, which plays the attacker's machine: before the fix, changing the host on the edit page
to it and pressing Test logged in there with the stored key."""

from __future__ import annotations

import asyncssh
import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from accounts.models import AuditEvent
from servers.models import Server
from servers.services import create_server
from tests.helpers import make_user
from tests.sshd import SshServer

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


def keeper():
    """May manage servers, not credentials: the role the review found could leak secrets."""
    group = Group.objects.create(name="Keepers")
    for codename in ("view_server", "change_server", "add_server", "view_job"):
        group.permissions.add(Permission.objects.get(codename=codename))
    user = make_user("keeper", role=None)
    user.groups.add(group)
    return user


def stored_at_nowhere(sshd: SshServer) -> Server:
    """A server whose stored key is the one the test sshd accepts, at an address with no sshd."""
    return create_server(
        name="vault", host="127.0.0.1", port=9, username=sshd.username, private_key=sshd.private_key_text
    )


def moved_test(sshd: SshServer, **fields) -> dict:
    fingerprint = asyncssh.read_public_key(str(sshd.host_key_paths[0]) + ".pub").get_fingerprint()
    data = {
        "host": sshd.host,
        "port": str(sshd.port),
        "username": sshd.username,
        "description": "",
        "max_concurrent_jobs": "4",
        "tags": "",
        "private_key": "",
        "host_key_fingerprint": fingerprint,
        "confirm_fingerprint": "on",
        "action": "test",
    }
    return {**data, **fields}


def test_moved_address_gets_no_stored_secrets_without_the_credential_permission(sshd):
    stored_at_nowhere(sshd)
    client = Client()
    client.force_login(keeper())
    refused = client.post("/servers/vault/edit/", moved_test(sshd), **JSON)
    assert refused.status_code == 403, refused.content
    assert "stored secrets go only there" in refused.json()["error"]
    assert not AuditEvent.objects.filter(action="server.test_connection").exists()  # nothing was sent
    # Typed again, the secrets are the person's own to send: the test runs (and is recorded).
    typed = client.post("/servers/vault/edit/", moved_test(sshd, private_key=sshd.private_key_text), **JSON)
    assert typed.status_code == 200 and typed.json()["logged_in_as"] == sshd.username, typed.content
    event = AuditEvent.objects.get(action="server.test_connection", target="vault")
    assert event.actor_name == "keeper" and event.via == "web"
    assert event.detail["secrets"] == "typed" and event.detail["moved"] is True
    assert event.detail["address"] == f"{sshd.host}:{sshd.port}"


def test_moving_the_server_itself_needs_the_credential_permission_too(sshd):
    server = stored_at_nowhere(sshd)
    client = Client()
    client.force_login(keeper())
    data = {**moved_test(sshd), "action": "save", "pin_on_first_contact": "on"}
    for confirmation in ("host_key_fingerprint", "confirm_fingerprint"):
        del data[confirmation]
    response = client.post("/servers/vault/edit/", data)
    assert response.status_code == 403 and "would send its stored secrets" in response.content.decode()
    server.refresh_from_db()
    assert (server.host, server.port) == ("127.0.0.1", 9)


def test_an_admin_may_test_a_new_address_with_the_stored_secrets_and_it_is_recorded(sshd):
    stored_at_nowhere(sshd)
    client = Client()
    client.force_login(make_user("boss", role="Admins"))
    answer = client.post("/servers/vault/edit/", moved_test(sshd), **JSON)
    assert answer.status_code == 200 and answer.json()["logged_in_as"] == sshd.username, answer.content
    event = AuditEvent.objects.get(action="server.test_connection", target="vault")
    assert (event.actor_name, event.detail["secrets"], event.detail["moved"]) == ("boss", "stored", True)
    assert sshd.private_key_text.splitlines()[1] not in str(event.detail)
