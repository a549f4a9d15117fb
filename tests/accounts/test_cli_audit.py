"""Management commands run with the full access of whoever can run manage.py on the LivChat
host (README, "Security model"; servers/permissions.py): no permission check, but what they
change is recorded as an audit event by "(command line)", via "cli", like any other surface's."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from accounts.models import AuditEvent
from servers.models import Server

pytestmark = pytest.mark.django_db


def _events() -> list[tuple]:
    return [
        (e.action, e.target, e.via, e.actor_id, e.actor_name)
        for e in AuditEvent.objects.filter(action__startswith="server.").order_by("id")
    ]


def test_add_server_records_who_and_what_as_the_command_line(monkeypatch):
    monkeypatch.setenv("LIVCHAT_TEST_SERVER_PW", "pw-cli-audit")
    add = ["add_server", "cli-audit", "--host", "192.0.2.20", "--password-env", "LIVCHAT_TEST_SERVER_PW"]
    call_command(*add, stdout=io.StringIO())
    call_command("add_server", "cli-audit", "--update", "--port", "2222", stdout=io.StringIO())
    Server.objects.filter(name="cli-audit").update(host_key="ssh-ed25519 AAAA-pinned", host_key_fingerprint="SHA256:x")
    call_command("add_server", "cli-audit", "--reset-host-key", stdout=io.StringIO())

    cli = ("cli-audit", "cli", None, "(command line)")
    assert _events() == [("server.create", *cli), ("server.update", *cli), ("server.reset_host_key", *cli)]
    create, update = AuditEvent.objects.filter(action__in=["server.create", "server.update"]).order_by("id")
    assert create.detail == {"credential": ["password"]}
    assert update.detail["fields"] == ["port"]
    assert Server.objects.get(name="cli-audit").port == 2222 and not Server.objects.get(name="cli-audit").host_key
