"""Issue 24, items 9–11: saving a server tries it first. A failed test (a closed port, a refused
key, an unknown host) saves nothing until "Save anyway"; the server then reads "not logged in
yet" on its page and in the list until a job or a test logs in. Against the real test sshd."""

from __future__ import annotations

import re

import asyncssh
import pytest

from accounts.models import AuditEvent
from jobs.services import create_remote_exec_job
from servers.checks import worded_error
from servers.models import Server
from tests.helpers import free_port, make_user
from tests.web.test_server_pages import JSON, confirmed, form_data, probe_json

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin(client):
    user = make_user("anyway-admin", role="Admins")
    client.force_login(user)
    return user


def pending_of(html: str) -> str:
    found = re.search(r'name="pending" value="([^"]+)"', html)
    assert found, html[:3000]
    return found[1]


def reach_of(client, name: str) -> str:
    page = client.get(f"/servers/{name}/").content.decode()
    return re.search(r'data-reach="(\w+)"', page)[1]


def test_a_closed_port_saves_nothing_until_save_anyway_then_reads_not_logged_in_yet(client, admin, sshd):
    data = form_data(sshd, name="closed-1", port=str(free_port()), pin_on_first_contact="on")
    response = client.post("/servers/add/", data)
    html = response.content.decode()
    assert response.status_code == 400
    assert "Not saved: the connection test failed." in html and "connection refused" in html
    assert 'id="save-anyway"' in html and "Save anyway" in html
    assert sshd.private_key_text.splitlines()[1] not in html  # the key waits in the session, not the page
    assert not Server.objects.exists()

    response = client.post("/servers/add/", {"action": "save_anyway", "pending": pending_of(html)})
    assert response.status_code == 302 and response["Location"] == "/servers/closed-1/"
    server = Server.objects.get(name="closed-1")
    assert server.credential.has_private_key and server.port == int(data["port"])
    page = client.get("/servers/closed-1/").content.decode()
    assert "although its connection test failed" in page and "not logged in yet" in page
    assert 'data-reach="never"' in client.get("/servers/").content.decode()
    # Once only: the same button again finds nothing waiting.
    again = client.post("/servers/add/", {"action": "save_anyway", "pending": pending_of(html)})
    assert again.status_code == 400 and "Nothing is waiting to be saved" in again.content.decode()
    assert Server.objects.count() == 1


def test_a_refused_key_after_a_confirmed_fingerprint_asks_for_save_anyway(client, admin, sshd):
    wrong_key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    data = form_data(sshd, name="refused-1", private_key=wrong_key)
    report = probe_json(client, data)
    response = client.post("/servers/add/", {**data, **confirmed(report)})
    html = response.content.decode()
    assert response.status_code == 400 and "The server refused the key" in html and "Save anyway" in html
    assert not Server.objects.exists()

    client.post("/servers/add/", {"action": "save_anyway", "pending": pending_of(html)})
    server = Server.objects.get(name="refused-1")
    assert server.host_key_fingerprint == report["fingerprint"]  # the confirmed key is pinned all the same
    assert reach_of(client, "refused-1") == "never"


def test_a_passing_test_saves_at_once_and_the_server_reads_reached(client, admin, sshd):
    data = form_data(sshd, name="good-1")
    report = probe_json(client, {**data, **confirmed(probe_json(client, data))})
    response = client.post("/servers/add/", {**data, **confirmed(report)})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="server.check", target="good-1", detail__ok=True).exists()
    assert reach_of(client, "good-1") == "ok"


def test_not_logged_in_yet_ends_when_a_job_logs_in(client, admin, sshd, run_job):
    data = form_data(sshd, name="later-1", pin_on_first_contact="on")
    assert client.post("/servers/add/", data).status_code == 302  # the key was fetched, no login tried
    assert reach_of(client, "later-1") == "never"
    run_job(create_remote_exec_job(server=Server.objects.get(name="later-1"), command="true"))
    assert reach_of(client, "later-1") == "ok"


def test_a_failed_job_makes_the_list_say_unreachable_since(client, admin, make_server, sshd, run_job):
    server = make_server("flaky-1")
    assert run_job(create_remote_exec_job(server=server, command="true")).status == "succeeded"
    Server.objects.filter(pk=server.pk).update(port=free_port())
    failed = run_job(create_remote_exec_job(server=Server.objects.get(pk=server.pk), command="true"))
    assert failed.status == "failed" and failed.exit_code is None
    listing = client.get("/servers/").content.decode()
    assert 'data-reach="unreachable"' in listing and "unreachable since" in listing
    assert "connection refused" in client.get("/servers/flaky-1/").content.decode()


def test_the_server_page_test_connection_is_recorded_and_changes_the_state(client, admin, make_server, sshd):
    make_server("page-test-1")
    assert reach_of(client, "page-test-1") == "never"
    response = client.post("/servers/page-test-1/test/")
    assert response.status_code == 302
    page = client.get("/servers/page-test-1/").content.decode()
    assert "Test connection: page-test-1: connected to" in page and 'data-reach="ok"' in page
    event = AuditEvent.objects.get(action="server.check", target="page-test-1")
    assert event.detail["ok"] is True and event.via == "web"


def test_viewers_may_not_test_a_saved_server(client, make_server):
    make_server("viewer-test-1")
    client.force_login(make_user("just-looking", role="Viewers"))
    assert client.post("/servers/viewer-test-1/test/").status_code == 403
    assert 'id="test-server"' not in client.get("/servers/viewer-test-1/").content.decode()


# ---- the form's words ------------------------------------------------------------------------
def test_an_unknown_host_says_so_under_the_host_field(client, admin, sshd):
    data = form_data(sshd, name="nowhere-1", host="no-such-host.invalid", pin_on_first_contact="on")
    answer = probe_json(client, data)
    assert answer["ok"] is False and answer["error"] == "Unknown host name: no-such-host.invalid"
    assert answer["errors"] == {"host": ["Unknown host name: no-such-host.invalid"]}
    html = client.post("/servers/add/", data).content.decode()
    assert (
        '<p class="field-error" data-field="host" id="id_host_error">Unknown host name: no-such-host.invalid</p>'
        in html
    )
    assert "Errno" not in html


def test_worded_errors_keep_what_is_already_plain():
    raw = "Cannot reach root@x.invalid:22: [Errno -2] Name or service not known"
    assert worded_error(raw, host="x.invalid") == "Unknown host name: x.invalid"
    assert (
        worded_error("Cannot reach a@b:22: connection refused", host="b") == "Cannot reach a@b:22: connection refused"
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "bad name!"}, "name", "a name may hold letters, digits, - and _ only (no spaces or dots)"),
        ({"name": "web.1"}, "name", "is not a valid server name"),
        ({"port": "70000"}, "port", "Port must be between 1 and 65535."),
        ({"port": "0"}, "port", "Port must be between 1 and 65535."),
        ({"port": "abc"}, "port", "Port must be a whole number between 1 and 65535."),
        ({"username": ""}, "username", "Give the user to log in as"),
    ],
)
def test_each_message_sits_under_its_field_in_plain_words(client, admin, sshd, fields, field, message):
    html = client.post("/servers/add/", form_data(sshd, pin_on_first_contact="on", **fields)).content.decode()
    found = re.findall(r'<p class="field-error" data-field="(\w+)"[^>]*>([^<]*)</p>', html)
    assert any(name == field and message in text for name, text in found), found
    assert "slug" not in html and "less than or equal" not in html
    # The connection test answers the same, field by field.
    answer = client.post("/servers/add/", {**form_data(sshd, **fields), "action": "test"}, **JSON).json()
    if field != "name":  # a test needs no name, but a name given is checked
        assert any(message in text for text in answer["errors"][field]), answer
