"""LivChat's own "Add server", "Edit server", "Test connection" and "Re-pin host key" pages
(issue 12), through Django's test client against the real test sshd."""

from __future__ import annotations

import asyncssh
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import AuditEvent
from servers import crypto
from servers.models import Credential, Server
from servers.services import create_server
from tests.helpers import free_port, make_user, worker_name
from tests.sshd import SshServer, start_sshd

pytestmark = pytest.mark.django_db

PW_USER = worker_name("livchat-pwpage")  # start_sshd makes it the xdist worker's own
PASSWORD = "pw-Page-Tests-41c7"
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture(scope="module")
def pw_sshd(tmp_path_factory) -> SshServer:
    server = start_sshd(tmp_path_factory.mktemp("pw-page-sshd"), username=PW_USER, password=PASSWORD)
    yield server
    server.close()


@pytest.fixture
def admin(client):
    user = make_user("srv-admin", role="Admins")
    client.force_login(user)
    return user


def host_fingerprint(ssh: SshServer) -> str:
    return asyncssh.read_public_key(str(ssh.host_key_paths[0]) + ".pub").get_fingerprint()


def other_key() -> str:
    return asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()


def form_data(ssh: SshServer, **fields) -> dict:
    data = {
        "name": "web-1",
        "host": ssh.host,
        "port": str(ssh.port),
        "username": ssh.username,
        "description": "",
        "max_concurrent_jobs": "4",
        "tags": "",
        "private_key": ssh.private_key_text,
        "action": "save",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def probe_json(client, data: dict, url: str = "/servers/add/") -> dict:
    response = client.post(url, {**data, "action": "test"}, **JSON)
    assert response.status_code == 200, response.content
    return response.json()


def confirmed(report: dict) -> dict:
    return {
        "host_key": report["public_key"],
        "host_key_fingerprint": report["fingerprint"],
        "probed_address": report["address"],
        "confirm_fingerprint": "on",
    }


# ---- adding --------------------------------------------------------------------------------
def test_add_with_a_key_shows_the_fingerprint_first_then_logs_in_and_pins_it(client, admin, sshd):
    data = form_data(sshd, tags="web, test")
    first = probe_json(client, data)
    assert first["fingerprint"] == host_fingerprint(sshd) and first["key_type"] == "ssh-ed25519"
    assert first["login_tried"] is False and first["logged_in_as"] == ""
    assert "no credential is sent before you confirm" in first["problem"]

    second = probe_json(client, {**data, **confirmed(first)})
    assert second["login_tried"] is True and second["logged_in_as"] == sshd.username, second
    assert not Server.objects.exists()  # testing stores nothing

    response = client.post("/servers/add/", {**data, **confirmed(first)})
    assert response.status_code == 302 and response["Location"] == "/servers/web-1/"
    server = Server.objects.get(name="web-1")
    assert server.host_key_fingerprint == host_fingerprint(sshd)
    assert server.host_key == first["public_key"] and server.host_key_pinned_at is not None
    assert server.tags == ["web", "test"]
    assert crypto.decrypt(server.credential.private_key_enc).strip() == sshd.private_key_text.strip()
    assert AuditEvent.objects.filter(action="server.create", target="web-1", via="web").exists()
    page = client.get("/servers/web-1/").content.decode()
    assert host_fingerprint(sshd) in page and "Added server web-1. Host key" in page


def test_add_with_a_password_tests_the_login_and_can_leave_pinning_to_first_contact(client, admin, pw_sshd):
    data = form_data(pw_sshd, name="pw-1", private_key="", password=PASSWORD)
    report = probe_json(client, data)
    assert report["fingerprint"] == host_fingerprint(pw_sshd)
    assert probe_json(client, {**data, **confirmed(report)})["logged_in_as"] == PW_USER
    wrong = probe_json(client, {**data, **confirmed(report), "password": "not-it"})
    assert wrong["logged_in_as"] == "" and "refused the password" in wrong["problem"]

    response = client.post("/servers/add/", {**data, "pin_on_first_contact": "on"})
    assert response.status_code == 302
    server = Server.objects.get(name="pw-1")
    assert server.host_key == "" and server.host_key_fingerprint == ""  # pinned on first contact
    assert server.credential.has_password and not server.credential.has_private_key
    assert "pinned on the first connection" in client.get("/servers/pw-1/").content.decode()


def test_a_key_file_upload_works_like_a_pasted_key(client, admin, sshd):
    upload = SimpleUploadedFile("id_ed25519", sshd.private_key_text.encode())
    data = form_data(sshd, name="up-1", private_key="", pin_on_first_contact="on")
    response = client.post("/servers/add/", {**data, "private_key_file": upload})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Server.objects.get(name="up-1").credential.has_private_key


def test_saving_without_a_confirmed_fingerprint_or_first_contact_choice_is_refused(client, admin, sshd):
    report = probe_json(client, form_data(sshd))
    unticked = {**confirmed(report), "confirm_fingerprint": None}
    response = client.post("/servers/add/", form_data(sshd, **unticked))
    assert response.status_code == 400 and "I have checked this fingerprint" in response.content.decode()
    response = client.post("/servers/add/", form_data(sshd))
    assert response.status_code == 400
    assert "confirm the host key fingerprint, or choose to trust" in response.content.decode()
    moved = {**confirmed(report), "port": str(free_port())}
    response = client.post("/servers/add/", form_data(sshd, **moved))
    assert response.status_code == 400 and "changed the host or port after testing" in response.content.decode()
    assert not Server.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"private_key": "", "password": ""}, "Give a private key or a password"),
        ({"private_key": "not a key at all"}, "The private key cannot be read"),
        ({"private_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE6T user@h"}, "This is a public key"),
        ({"host": "bad host!"}, "is not a valid host"),
        ({"host": ""}, "Give the host name or IP address"),
        ({"username": "{{x}}"}, "is not a valid user name"),
        ({"name": "add"}, "is reserved for a page of LivChat"),
        ({"name": "bad name!"}, "a name may hold letters, digits, - and _ only"),
        ({"tags": "[unclosed"}, "Tags are separated by commas"),
        ({"port": "70000"}, "Port must be between 1 and 65535."),
    ],
)
def test_bad_input_is_a_400_with_a_message(client, admin, sshd, fields, message):
    response = client.post("/servers/add/", form_data(sshd, pin_on_first_contact="on", **fields))
    text = response.content.decode()
    assert response.status_code == 400 and message in text, text[:3000]
    assert "Traceback" not in text and not Server.objects.exists() and not Credential.objects.exists()


def test_a_duplicate_name_is_a_400_and_changes_nothing(client, admin, sshd):
    create_server(name="web-1", host="192.0.2.7", username="deploy", password="x")
    response = client.post("/servers/add/", form_data(sshd, pin_on_first_contact="on"))
    assert (
        response.status_code == 400 and "A server named &#x27;web-1&#x27; exists already" in response.content.decode()
    )
    assert Server.objects.get(name="web-1").host == "192.0.2.7"


def test_the_api_and_command_refuse_the_reserved_name_too(admin):
    with pytest.raises(Exception, match="reserved"):
        create_server(name="add", host="192.0.2.7", password="x")


def test_test_connection_reports_bad_input_and_an_unreachable_host(client, admin, sshd):
    bad = client.post("/servers/add/", {**form_data(sshd, host="bad host!"), "action": "test"}, **JSON)
    assert bad.status_code == 400 and "is not a valid host" in bad.json()["error"]
    gone = probe_json(client, form_data(sshd, port=str(free_port())))
    assert gone["ok"] is False and "connection refused" in gone["error"]


def test_test_connection_works_as_a_plain_form_post_and_never_echoes_secrets(client, admin, pw_sshd):
    data = form_data(pw_sshd, name="plain-1", private_key="", password=PASSWORD, action="test")
    text = client.post("/servers/add/", data).content.decode()
    assert host_fingerprint(pw_sshd) in text and "I have checked this fingerprint" in text
    assert PASSWORD not in text and "give the key or password again" in text


# ---- editing ------------------------------------------------------------------------------
def test_edit_keeps_blank_secrets_shows_none_and_tests_with_the_stored_ones(client, admin, make_server, sshd):
    server = make_server("ed-1", tags=["old"])
    page = client.get("/servers/ed-1/edit/").content.decode()
    secret_line = sshd.private_key_text.splitlines()[1]
    assert "Leave blank to keep the stored key" in page and secret_line not in page
    assert 'value="old"' in page
    data = form_data(sshd, name=None, private_key="", tags="a, b")
    report = probe_json(client, data, url="/servers/ed-1/edit/")  # stored key, first contact: confirm first
    assert report["logged_in_as"] == ""
    report = probe_json(client, {**data, **confirmed(report)}, url="/servers/ed-1/edit/")
    assert report["logged_in_as"] == sshd.username
    response = client.post("/servers/ed-1/edit/", {**data, **confirmed(report)})
    assert response.status_code == 302 and response["Location"] == "/servers/ed-1/"
    server.refresh_from_db()
    assert server.tags == ["a", "b"] and server.credential.has_private_key
    assert server.host_key_fingerprint == host_fingerprint(sshd)
    # Pinned now: a test compares with the pin and logs in without asking again.
    again = probe_json(client, data, url="/servers/ed-1/edit/")
    assert again["matches_pin"] is True and again["logged_in_as"] == sshd.username


# ---- re-pinning ---------------------------------------------------------------------------
def test_repin_shows_old_and_new_pins_the_new_key_and_records_it(client, admin, make_server, sshd):
    server = make_server("rp-1")
    old = other_key()
    old_fp = asyncssh.import_public_key(old).get_fingerprint()
    Server.objects.filter(pk=server.pk).update(host_key=old, host_key_fingerprint=old_fp)
    text = client.get("/servers/rp-1/repin/").content.decode()
    new_fp = host_fingerprint(sshd)
    assert old_fp in text and new_fp in text and "pin the new key" in text

    response = client.post("/servers/rp-1/repin/", {"old_fingerprint": old_fp, "new_fingerprint": new_fp})
    assert response.status_code == 302 and response["Location"] == "/servers/rp-1/"
    server.refresh_from_db()
    assert server.host_key_fingerprint == new_fp and server.host_key.startswith("ssh-ed25519 ")
    event = AuditEvent.objects.get(action="server.repin")
    assert (event.target, event.via, event.actor, event.detail) == (
        "rp-1",
        "web",
        admin,
        {"old": old_fp, "new": new_fp},
    )
    assert f"Pinned the new host key of rp-1: {new_fp}" in client.get("/servers/rp-1/").content.decode()

    # The same key again: said so, nothing changes, nothing recorded.
    text = client.get("/servers/rp-1/repin/").content.decode()
    assert "nothing to re-pin" in text and 'id="repin-form"' not in text
    client.post("/servers/rp-1/repin/", {"old_fingerprint": new_fp, "new_fingerprint": new_fp})
    assert AuditEvent.objects.filter(action="server.repin").count() == 1


def test_repin_refuses_a_key_other_than_the_one_confirmed(client, admin, make_server, sshd):
    server = make_server("rp-2")
    old = other_key()
    old_fp = asyncssh.import_public_key(old).get_fingerprint()
    Server.objects.filter(pk=server.pk).update(host_key=old, host_key_fingerprint=old_fp)
    wrong = asyncssh.import_public_key(other_key()).get_fingerprint()
    response = client.post("/servers/rp-2/repin/", {"old_fingerprint": old_fp, "new_fingerprint": wrong})
    assert response.status_code == 409 and "not the key you confirmed" in response.content.decode()
    stale = client.post("/servers/rp-2/repin/", {"old_fingerprint": wrong, "new_fingerprint": host_fingerprint(sshd)})
    assert stale.status_code == 409 and "changed while you were looking" in stale.content.decode()
    server.refresh_from_db()
    assert server.host_key_fingerprint == old_fp and not AuditEvent.objects.filter(action="server.repin").exists()


# ---- permissions and links ----------------------------------------------------------------
@pytest.mark.parametrize("role", ["Viewers", "Operators"])
def test_viewers_and_operators_may_not_add_edit_or_repin(client, make_server, sshd, role):
    make_server("perm-1")
    client.force_login(make_user(f"u-{role}", role=role))
    for url in ("/servers/add/", "/servers/perm-1/edit/", "/servers/perm-1/repin/"):
        for response in (client.get(url), client.post(url, form_data(sshd, name="x-1", pin_on_first_contact="on"))):
            assert response.status_code == 403, url
            assert "may not manage servers (needs the Admins role)" in response.content.decode()
    assert not Server.objects.filter(name="x-1").exists()
    detail = client.get("/servers/perm-1/").content.decode()
    assert "/servers/perm-1/edit/" not in detail and "Re-pin host key" not in detail
    assert "/servers/add/" not in client.get("/servers/").content.decode()


def test_admins_get_the_add_edit_and_repin_links(client, admin, make_server):
    assert 'href="/servers/add/"' in client.get("/servers/").content.decode()  # empty list: button and row
    make_server("links-1")
    detail = client.get("/servers/links-1/").content.decode()
    assert 'href="/servers/links-1/edit/"' in detail and 'href="/servers/links-1/repin/"' in detail
    assert "Edit in admin" not in detail


# ---- the admin ----------------------------------------------------------------------------
def test_the_admin_takes_comma_separated_tags_and_refuses_an_empty_credential(client):
    client.force_login(make_user("adm-root", role=None, is_staff=True, is_superuser=True))
    response = client.post("/admin/servers/credential/add/", {"name": "empty"})
    assert response.status_code == 200 and "Give a private key or a password" in response.content.decode()
    assert not Credential.objects.exists()
    form = {"name": "adm-1", "host": "192.0.2.10", "port": "22", "username": "deploy", "tags": "web, test",
            "description": "", "max_concurrent_jobs": "4", "python_interpreter": "auto_silent"}  # fmt: skip
    assert client.post("/admin/servers/server/add/", form).status_code == 302
    server = Server.objects.get(name="adm-1")
    assert server.tags == ["web", "test"]
    page = client.get(f"/admin/servers/server/{server.pk}/change/").content.decode()
    assert 'value="web, test"' in page
    assert client.post("/admin/servers/server/add/", {**form, "name": "add"}).status_code == 200
    assert not Server.objects.filter(name="add").exists()
