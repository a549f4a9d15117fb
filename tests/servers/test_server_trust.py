"""Server fields and server changes, tried as an attacker would (issue 10, sections 1, 4, 5, 8).

Inventory fields (host, username, python_interpreter) are refused with a clear error at every
entry point; POST never overwrites a server; PATCH changes only what it is sent; a move
forgets the pinned key; credentials need the credential permission; a bad host never becomes
a 500 or a traceback in a job's lines.
"""

from __future__ import annotations

import asyncio
import io
import re

import asyncssh
import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from jobs.models import JobLogLine
from jobs.services import create_remote_exec_job
from servers import ssh
from servers import validators as v
from servers.models import Credential, Server
from servers.services import ServerInputError, create_server, target_for, update_server
from tests.api_helpers import Api, assert_error, token_api
from tests.helpers import make_user

pytestmark = pytest.mark.django_db

PIN = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
MARKER = "{{ lookup('pipe', 'touch /tmp/livchat-pwned') }}"
BAD_HOSTS = [
    "bad\x01host",
    "tab\there",
    "a b",
    "h\nx",
    "x" * 64 + ".example",  # a label longer than 63
    "a." * 127 + "bb",  # 256 characters
    "\u200b.example",  # non-ASCII that is not a valid IDNA name
    "-lead.example",
    "[::1]",
    "fe80::1%eth0",
    MARKER,
    "host;rm -rf /",
]
BAD_USERS = ["Root", "1abc", "a b", "x" * 33, "user@host", MARKER, "bob{{x}}", "é"]
BAD_PYTHONS = ["python3", "/usr/bin/python3 -c", "/usr/bin/{{x}}", "/bin/py;id", "auto_loud", ""]


@pytest.fixture
def admin_api():
    return token_api(make_user("trust-admin", role="Admins"))


def _server(name="srv", **fields) -> Server:
    return create_server(name=name, **{"host": "192.0.2.10", **fields})


def _pinned(server: Server) -> Server:
    Server.objects.filter(pk=server.pk).update(
        host_key=PIN, host_key_fingerprint=ssh.fingerprint_of(PIN), host_key_pinned_at=timezone.now()
    )
    server.refresh_from_db()
    return server


# ---- the one validator module --------------------------------------------------------------
@pytest.mark.parametrize(
    "host", ["h", "web-1.example.com", "db_2.internal.", "10.0.0.1", "::1", "2001:db8::ff00:42:8329"]
)
def test_valid_hosts_pass_unchanged(host):
    assert v.check_host(host) == host and re.fullmatch(v.HOST_PATTERN, host)


def test_internationalised_names_become_their_ascii_form():
    assert v.check_host("bücher.example") == "xn--bcher-kva.example"
    with pytest.raises(v.FieldError, match="xn--bcher-kva.example"):
        v.check_host("bücher.example", allow_unicode=False)  # the API asks for the ASCII form


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_bad_hosts_are_refused_and_the_schema_pattern_agrees(host):
    with pytest.raises(v.FieldError, match="not a valid host|longer than 253"):
        v.check_host(host)
    assert not (re.fullmatch(v.HOST_PATTERN, host) and len(host) <= v.HOST_MAX)


@pytest.mark.parametrize("user", BAD_USERS)
def test_bad_usernames_are_refused(user):
    with pytest.raises(v.FieldError, match="POSIX login name"):
        v.check_username(user)


@pytest.mark.parametrize("python", BAD_PYTHONS)
def test_bad_python_interpreters_are_refused(python):
    with pytest.raises(v.FieldError, match="absolute path"):
        v.check_python_interpreter(python)


def test_the_openapi_schema_declares_the_patterns(admin_api):
    schemas = admin_api.get("/api/schema").json()["components"]["schemas"]
    for schema in ("ServerIn", "ServerPatch"):
        props = schemas[schema]["properties"]
        assert props["host"]["pattern"] == v.HOST_PATTERN and props["host"]["maxLength"] == 253
        assert props["username"]["pattern"] == v.USERNAME_PATTERN and props["username"]["maxLength"] == 32
        assert props["python_interpreter"]["pattern"] == v.PYTHON_INTERPRETER_PATTERN
        assert props["host_key_fingerprint"]["pattern"] == v.FINGERPRINT_PATTERN
    assert "default" not in schemas["ServerPatch"]["properties"]["port"]  # omitted means unchanged


# ---- every entry point refuses them ----------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [*(("host", h) for h in [*BAD_HOSTS, "bücher.example"]), *(("username", u) for u in BAD_USERS[:5]),
     *(("python_interpreter", p) for p in BAD_PYTHONS[:4])],
)  # fmt: skip
def test_api_refuses_bad_fields_with_422_on_post_and_patch(admin_api, field, value):
    message = assert_error(admin_api.post("/api/servers/", {"name": "n1", "host": "h", field: value}), 422)
    assert field in message
    assert not Server.objects.filter(name="n1").exists()
    _server("kept")
    assert field in assert_error(admin_api.patch("/api/servers/kept", {field: value}), 422)
    assert Server.objects.get(name="kept").host == "192.0.2.10"


def test_services_refuse_bad_fields_and_normalise_idna():
    for field, value in [("host", "a\x00b"), ("username", MARKER), ("python_interpreter", "py")]:
        with pytest.raises(ServerInputError, match=field):
            create_server(name="svc", **{"host": "h", field: value})
    assert not Server.objects.exists()
    assert create_server(name="idn", host="bücher.example").host == "xn--bcher-kva.example"


@pytest.mark.parametrize("args", [["--host", "a b"], ["--host", "x" * 64], ["--host", "h", "--user", MARKER],
                                  ["--host", "h", "--python-interpreter", "python3"]])  # fmt: skip
def test_add_server_refuses_bad_fields(args):
    with pytest.raises(CommandError, match="not a valid"):
        call_command("add_server", "cli", *args, stdout=io.StringIO())
    assert not Server.objects.exists()


ADMIN_FORM = {"name": "adm", "host": "h", "port": "22", "username": "deploy", "tags": "[]", "description": "",
              "max_concurrent_jobs": "4", "python_interpreter": "auto_silent"}  # fmt: skip


@pytest.fixture
def root_client() -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(make_user("root-user", role=None, is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    ("field", "value"), [("host", "\u200b.example"), ("host", "x" * 64), ("host", "bad\x01host"), ("username", MARKER),
                         ("python_interpreter", "/usr/bin/{{x}}")],
)  # fmt: skip
def test_admin_form_refuses_bad_fields_as_form_errors(root_client, field, value):
    response = root_client.post("/admin/servers/server/add/", {**ADMIN_FORM, field: value})
    text = response.content.decode()
    assert response.status_code == 200 and "errornote" in text and "not a valid" in text, text[:500]
    assert "Traceback" not in text and not Server.objects.exists()


def test_admin_stores_an_idna_host_in_ascii(root_client):
    response = root_client.post("/admin/servers/server/add/", {**ADMIN_FORM, "host": "bücher.example"})
    assert response.status_code == 302
    assert Server.objects.get(name="adm").host == "xn--bcher-kva.example"


# ---- a stored bad host never becomes a 500 or a traceback ---------------------------------
@pytest.mark.django_db(transaction=True)  # the job's sink writes from its own thread
def test_a_bad_stored_host_is_one_clear_line_on_the_job_and_the_api(admin_api, run_job):
    server = _server("legacy")
    Server.objects.filter(pk=server.pk).update(host="bad\x01host\u00e9")  # stored before validation existed
    server.refresh_from_db()
    job = run_job(create_remote_exec_job(server=server, command="true", enqueue=False))
    assert job.status == "failed" and "\n" not in job.error and "not a valid host" in job.error
    assert not JobLogLine.objects.filter(job=job, message__contains="Traceback").exists()
    response = admin_api.post("/api/servers/legacy/exec", {"command": "true"})
    assert response.status_code < 500 and b"Traceback" not in response.content


def test_an_unexpected_connect_error_is_one_line_and_the_traceback_goes_to_the_server_log(caplog):
    target = ssh.Target(name="odd", host="127.0.0.1", port=70000, username="deploy")  # port out of range
    with pytest.raises(ssh.SshError) as failed:
        asyncio.run(ssh.connect(target, connect_timeout=5))
    message = str(failed.value)
    assert "\n" not in message and "unexpected OverflowError" in message and "server log" in message
    logged = [r for r in caplog.records if r.name == "livchat_server_log.ssh"]
    assert logged and logged[0].exc_info is not None  # the traceback: server log only


# ---- POST creates, PATCH changes only what it is sent ------------------------------------------
def test_post_on_an_existing_name_is_409_and_changes_nothing(admin_api):
    server = _pinned(_server("bar1", port=2222, username="deploy", password="pw-kept"))
    before = Server.objects.filter(pk=server.pk).values().get()
    cred_before = Credential.objects.filter(pk=server.credential_id).values().get()
    message = assert_error(admin_api.post("/api/servers/", {"name": "bar1", "host": "127.0.0.1"}), 409)
    assert "exists already" in message and "PATCH /api/servers/bar1" in message
    assert Server.objects.filter(pk=server.pk).values().get() == before
    assert Credential.objects.filter(pk=server.credential_id).values().get() == cred_before


def test_patch_changes_only_the_fields_sent(admin_api):
    server = _pinned(_server("p1", port=2222, username="deploy", password="pw-kept", tags=["a"]))
    response = admin_api.patch("/api/servers/p1", {"tags": ["b"], "description": "new"})
    assert response.status_code == 200, response.content
    after = Server.objects.get(pk=server.pk)
    assert (after.port, after.username, after.host, after.host_key) == (2222, "deploy", "192.0.2.10", PIN)
    assert (after.tags, after.description) == (["b"], "new")
    assert target_for(after).password == "pw-kept"
    assert "port" in assert_error(admin_api.patch("/api/servers/p1", {"port": None}), 422)
    assert "hots" in assert_error(admin_api.patch("/api/servers/p1", {"hots": "x"}), 422)
    assert_error(admin_api.patch("/api/servers/nope", {"tags": []}), 404)
    assert Server.objects.get(pk=server.pk).port == 2222


@pytest.mark.parametrize(
    ("change", "forgets"),
    [
        ({"host": "192.0.2.11"}, True),
        ({"port": 2200}, True),
        ({"username": "other"}, False),
        ({"host": "192.0.2.10"}, False),
    ],
)
def test_a_new_host_or_port_forgets_the_pinned_key(admin_api, change, forgets):
    _pinned(_server("mv", password="pw"))
    assert admin_api.patch("/api/servers/mv", change).status_code == 200
    after = Server.objects.get(name="mv")
    assert (after.host_key == "") is forgets and (after.host_key_pinned_at is None) is forgets
    assert target_for(after).password == "pw"


def test_admin_and_add_server_moves_forget_the_pin_too(root_client):
    server = _pinned(_server("adm-mv"))
    form = {**ADMIN_FORM, "name": "adm-mv", "host": "192.0.2.99", "credential": ""}
    assert root_client.post(f"/admin/servers/server/{server.pk}/change/", form).status_code == 302
    assert Server.objects.get(pk=server.pk).host_key == ""
    _pinned(server)
    call_command("add_server", "adm-mv", "--update", "--port", "2022", stdout=io.StringIO())
    assert Server.objects.get(pk=server.pk).host_key == ""


def test_add_server_on_an_existing_name_needs_update_and_changes_only_what_is_given():
    _pinned(_server("cli1", port=2222, username="deploy"))
    with pytest.raises(CommandError, match="add --update"):
        call_command("add_server", "cli1", "--host", "192.0.2.50", stdout=io.StringIO())
    call_command("add_server", "cli1", "--update", "--tag", "x", stdout=io.StringIO())
    after = Server.objects.get(name="cli1")
    assert (after.host, after.port, after.username, after.tags, after.host_key) == (
        "192.0.2.10", 2222, "deploy", ["x"], PIN
    )  # fmt: skip
    with pytest.raises(CommandError, match="leave out --update"):
        call_command("add_server", "new1", "--update", "--host", "h", stdout=io.StringIO())


# ---- who may change servers and credentials -----------------------------------------------
def _servers_manager(username: str):
    """May view and change servers, but not credentials."""
    user = make_user(username, role="Operators")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["add_server", "change_server"]))
    return type(user).objects.get(pk=user.pk)


def test_operators_may_not_create_or_change_servers():
    api = token_api(make_user("op", role="Operators"))
    assert "manage servers" in assert_error(api.post("/api/servers/", {"name": "x", "host": "h"}), 403)
    _server("y")
    assert "manage servers" in assert_error(api.patch("/api/servers/y", {"port": 23}), 403)
    assert not Server.objects.filter(name="x").exists() and Server.objects.get(name="y").port == 22


def test_credentials_need_the_credential_permission():
    api = token_api(_servers_manager("mgr"))
    denied = api.post("/api/servers/", {"name": "c1", "host": "h", "password": "pw"})
    assert "manage credentials" in assert_error(denied, 403)
    assert not Server.objects.filter(name="c1").exists() and not Credential.objects.exists()
    assert api.post("/api/servers/", {"name": "c1", "host": "h"}).status_code == 201
    _server("c2", password="pw-old")
    assert "manage credentials" in assert_error(api.patch("/api/servers/c2", {"password": "pw-new"}), 403)
    assert target_for(Server.objects.get(name="c2")).password == "pw-old"
    assert api.patch("/api/servers/c2", {"description": "db"}).status_code == 200
    # Moving it would send the stored password to the new address: that is managing credentials.
    moved = assert_error(api.patch("/api/servers/c2", {"host": "203.0.113.9", "port": 2200}), 403)
    assert "stored secrets" in moved and "manage credentials" in moved
    assert (Server.objects.get(name="c2").host, Server.objects.get(name="c2").port) == ("192.0.2.10", 22)
    assert api.patch("/api/servers/c1", {"port": 2200}).status_code == 200  # no secrets stored: nothing follows


def test_lists_show_only_usable_servers_and_detail_needs_them():
    blue = Group.objects.create(name="Blue")
    _server("open")
    _server("blue").allowed_groups.add(blue)
    outsider = token_api(make_user("outsider", role="Viewers"))
    assert [s["name"] for s in outsider.get("/api/servers/").json()] == ["open"]
    # One answer for a restricted name and an unknown one: names cannot be probed.
    assert assert_error(outsider.get("/api/servers/blue"), 404) == "No server named 'blue'."
    assert assert_error(outsider.get("/api/servers/nope"), 404) == "No server named 'nope'."
    insider = make_user("insider", role="Viewers")
    insider.groups.add(blue)
    assert [s["name"] for s in token_api(insider).get("/api/servers/").json()] == ["blue", "open"]
    assert_error(Api().get("/api/servers/"), 401)
    assert "Viewers role" in assert_error(token_api(make_user("nobody", role=None)).get("/api/servers/"), 403)


def test_admin_limits_servers_credentials_and_test_connection_by_permission():
    blue = Group.objects.create(name="Blue")
    _server("open", host="127.0.0.1", port=9, password="pw")  # refused at once if anything connects
    hidden = _server("blue")
    hidden.allowed_groups.add(blue)
    manager = _servers_manager("adm-mgr")
    manager.is_staff = True
    manager.save()
    client = Client(raise_request_exception=False)
    client.force_login(manager)
    listing = client.get("/admin/servers/server/").content.decode()
    assert ">open<" in listing and ">blue<" not in listing
    assert client.get(f"/admin/servers/server/{hidden.pk}/change/").status_code == 302  # "doesn't exist"
    open_server = Server.objects.get(name="open")
    page = client.get(f"/admin/servers/server/{open_server.pk}/change/").content.decode()
    assert 'name="credential"' not in page  # shown read-only: attaching one needs the credential perm
    viewer = make_user("adm-viewer", role="Viewers", is_staff=True)
    client.force_login(viewer)
    response = client.post(
        "/admin/servers/server/", {"action": "test_connection", "_selected_action": [open_server.pk], "index": "0"}
    )
    followed = client.get(response["Location"]) if response.status_code == 302 else response
    assert "connection refused" not in followed.content.decode()  # the action did not run
    assert "test_connection" not in client.get("/admin/servers/server/").content.decode()
    button = client.post(f"/admin/servers/server/{open_server.pk}/test-connection/", follow=True)
    text = button.content.decode()
    assert "needs the permission to change this server" in text and "connection refused" not in text
    client.force_login(manager)  # may change it: the same button runs the check
    button = client.post(f"/admin/servers/server/{open_server.pk}/test-connection/", follow=True)
    assert "connection refused" in button.content.decode()


def test_update_server_refuses_unknown_fields():
    server = _server("u1")
    with pytest.raises(TypeError, match="name"):
        update_server(server=server, name="renamed")


def test_patch_fingerprint_keeps_a_matching_pin_and_replaces_a_different_one(admin_api):
    server = _pinned(_server("fp1"))
    same = admin_api.patch("/api/servers/fp1", {"host_key_fingerprint": server.host_key_fingerprint})
    assert same.status_code == 200 and Server.objects.get(pk=server.pk).host_key == PIN
    other = asyncssh.generate_private_key("ssh-ed25519").get_fingerprint()
    assert admin_api.patch("/api/servers/fp1", {"host_key_fingerprint": other}).status_code == 200
    after = Server.objects.get(pk=server.pk)
    assert (after.host_key, after.host_key_fingerprint, after.host_key_pinned_at) == ("", other, None)
    assert target_for(after).expected_fingerprint == other


def test_server_changes_are_audited_with_who_and_where(admin_api):
    from accounts.models import AuditEvent

    assert admin_api.post("/api/servers/", {"name": "aud", "host": "h", "password": "pw"}).status_code == 201
    assert admin_api.patch("/api/servers/aud", {"host": "h2"}).status_code == 200
    events = list(
        AuditEvent.objects.filter(target="aud").order_by("id").values("action", "actor_name", "via", "detail")
    )
    assert [(e["action"], e["actor_name"], e["via"]) for e in events] == [
        ("server.create", "trust-admin", "api"),
        ("server.update", "trust-admin", "api"),
    ]
    assert events[0]["detail"]["credential"] == ["password"] and events[1]["detail"]["host_key_forgotten"] is True
    assert "pw" not in str(events)


def test_the_migration_resets_unsafe_stored_interpreters():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("servers.migrations.0002_allowed_groups_validated_fields")
    bad = _server("old-bad")
    Server.objects.filter(pk=bad.pk).update(python_interpreter=MARKER)  # stored before the rules
    good = _server("old-good", python_interpreter="/usr/bin/python3")
    migration.reset_unsafe_interpreters(apps, None)
    assert Server.objects.get(pk=bad.pk).python_interpreter == "auto_silent"
    assert Server.objects.get(pk=good.pk).python_interpreter == "/usr/bin/python3"
