"""The playbook pages: "run a playbook" on the server page, /playbooks/, and the job page's
playbook facts and per-host recap. Django's test client; one real run against the test sshd."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from jobs.models import Job, JobStatus
from jobs.runners.playbook.catalog import default_timeout
from jobs.services import create_playbook_job
from servers.services import create_or_update_server
from tests.helpers import make_user

BUILTINS = ["base_setup.yml", "disk_usage.yml", "facts.yml", "ping.yml", "uptime.yml"]
XSS = "<script>alert(1)</script>"
ESCAPED_XSS = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture
def web1(db):
    # Nothing listens on port 9: these tests only create jobs, they never connect.
    server, _ = create_or_update_server(name="web-1", host="127.0.0.1", port=9, username="deploy")
    return server


@pytest.fixture
def web2(db):
    server, _ = create_or_update_server(name="web-2", host="127.0.0.1", port=9, username="deploy")
    return server


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _server_form(**fields) -> dict:
    data = {"form": "playbook", "pb-playbook": "ping.yml", "pb-extra_vars": "", "pb-timeout": ""}
    data.update({f"pb-{k}": v for k, v in fields.items()})
    return data


def _job_from(response) -> Job:
    assert response.status_code == 302, response.content.decode()[:2000]
    job = Job.objects.get()
    assert response["Location"] == f"/jobs/{job.job_id}/"
    return job


# ---- the playbooks page ------------------------------------------------------------------------
def test_playbooks_page_lists_the_builtin_playbooks(staff_client, web1):
    response = staff_client.get("/playbooks/")
    assert response.status_code == 200
    text = _text(response)
    table = text[text.index('id="playbook-list"') : text.index("</table>")]
    rows = re.findall(r'<td class="mono">([^<]+)</td>\s*<td><span class="tag src-(\w+)">', table)
    assert [name for name, _ in rows] == BUILTINS
    assert {source for _, source in rows} == {"builtin"}
    assert "Check that Ansible can log in to each server" in table  # ping.yml's leading comment
    # The run form offers every playbook and every server.
    for name in BUILTINS:
        assert f'<option value="{name}">' in text
    assert '<option value="web-1">web-1</option>' in text
    assert '<a href="/playbooks/" class="active">Playbooks</a>' in text  # the nav link, current page


def test_playbooks_link_is_in_the_nav_of_other_pages(staff_client, web1):
    text = staff_client.get("/servers/").content.decode()
    assert '<a href="/playbooks/">Playbooks</a>' in text


def test_operator_playbooks_are_listed_and_their_description_is_escaped(staff_client, web1, tmp_path, settings):
    operator = tmp_path / "ops"
    operator.mkdir()
    (operator / "evil.yml").write_text(f"# Restart {XSS} nicely.\n- hosts: all\n  tasks: []\n")
    settings.PLAYBOOK_DIRS = [Path(django_settings.BASE_DIR) / "playbooks", operator]
    raw = staff_client.get("/playbooks/").content.decode()
    assert re.search(r'<td class="mono">evil.yml</td>\s*<td><span class="tag src-operator">operator</span>', raw)
    assert f"Restart {ESCAPED_XSS} nicely." in raw
    assert XSS not in raw
    assert '<option value="evil.yml">evil.yml (operator)</option>' in raw


def test_playbooks_page_preselects_the_playbook_and_server_from_the_link(staff_client, web1, web2):
    raw = staff_client.get("/playbooks/?playbook=uptime.yml&server=web-2").content.decode()
    assert '<option value="uptime.yml" selected>' in raw
    assert '<option value="ping.yml">' in raw
    assert '<option value="web-2" selected>web-2</option>' in raw
    assert '<option value="web-1">web-1</option>' in raw
    # The server page links there with itself chosen.
    assert 'href="/playbooks/?server=web-1"' in staff_client.get("/servers/web-1/").content.decode()


def test_playbooks_page_needs_a_role(client, web1):
    assert client.get("/playbooks/")["Location"].startswith("/accounts/login/?next=/playbooks/")
    post = client.post("/playbooks/", {"playbook": "ping.yml", "servers": ["web-1"]})
    assert post.status_code == 302 and post["Location"].startswith("/accounts/login/")
    client.force_login(make_user("visitor", role=None))
    refused = client.get("/playbooks/")
    assert refused.status_code == 403 and b"needs the Viewers role" in refused.content
    post = client.post("/playbooks/", {"playbook": "ping.yml", "servers": ["web-1"]})
    assert post.status_code == 403
    post = client.post("/servers/web-1/", _server_form())
    assert post.status_code == 403
    assert not Job.objects.exists()


def test_playbooks_page_runs_one_playbook_on_several_servers(staff_client, staff, web1, web2):
    response = staff_client.post(
        "/playbooks/",
        {
            "playbook": "uptime.yml",
            "servers": ["web-1", "web-2"],
            "extra_vars": '{"packages": ["git", "curl"], "retries": 2}',
            "check": "on",
            "timeout": "600",
        },
    )
    job = _job_from(response)
    assert job.job_type == "playbook" and job.status == JobStatus.PENDING
    assert job.params == {
        "playbook": "uptime.yml",
        "extra_vars": {"packages": ["git", "curl"], "retries": 2},
        "check": True,
    }
    assert sorted(s.name for s in job.servers.all()) == ["web-1", "web-2"]
    assert job.timeout == 600 and job.created_by == staff
    # The recent playbook jobs name every target, not only the first.
    raw = staff_client.get("/playbooks/").content.decode()
    table = raw[raw.index('id="playbook-jobs"') :]
    assert job.job_id in table
    assert '<td><a href="/servers/web-1/">web-1</a>, <a href="/servers/web-2/">web-2</a></td>' in table


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"servers": []}, "Choose at least one server."),
        ({"servers": ["web-1", "ghost"]}, "Unknown server ghost."),
        ({"playbook": "nope.yml"}, "No playbook named 'nope.yml'. Available: base_setup.yml"),
        ({"playbook": "../../livchat/settings.yml"}, "Invalid playbook name '../../livchat/settings.yml'"),
        ({"extra_vars": "name"}, "Extra vars line 1: expected NAME=VALUE or a JSON object, got 'name'."),
        ({"timeout": "0"}, "Timeout: Ensure this value is greater than or equal to 1."),
    ],
)
def test_playbooks_page_refuses_bad_input(staff_client, web1, fields, message):
    data = {"playbook": "ping.yml", "servers": ["web-1"], "extra_vars": "", "timeout": "", **fields}
    response = staff_client.post("/playbooks/", data)
    assert response.status_code == 400
    text = _text(response)
    assert message in text
    assert 'id="playbook-list"' in text  # the whole page again, with the form
    assert not Job.objects.exists()


def test_playbooks_page_refuses_a_password_only_server(staff_client, db):
    create_or_update_server(name="pw-only", host="127.0.0.1", port=9, username="deploy", password="s3cret-pw")
    response = staff_client.post("/playbooks/", {"playbook": "ping.yml", "servers": ["pw-only"]})
    assert response.status_code == 400
    assert "Server pw-only: password login is not supported for playbooks; add a key." in _text(response)
    assert "s3cret-pw" not in response.content.decode()
    assert not Job.objects.exists()


# ---- the server page ---------------------------------------------------------------------------
def test_server_page_offers_the_playbook_form(staff_client, web1):
    raw = staff_client.get("/servers/web-1/").content.decode()
    assert "Run a playbook" in raw and 'name="form" value="playbook"' in raw
    for name in BUILTINS:
        assert f'<option value="{name}">' in raw
    assert 'name="pb-check"' in raw and 'name="pb-extra_vars"' in raw
    assert f'placeholder="{default_timeout()}"' in raw


def test_server_page_form_runs_a_playbook_on_that_server(staff_client, staff, web1, web2):
    response = staff_client.post(
        "/servers/web-1/",
        _server_form(
            playbook="base_setup.yml",
            extra_vars="greeting = hello world\r\n# a comment\r\n\r\nn=3",
            check="on",
            timeout="120",
        ),
    )
    job = _job_from(response)
    assert job.params == {
        "playbook": "base_setup.yml",
        "extra_vars": {"greeting": "hello world", "n": "3"},
        "check": True,
    }
    assert [s.name for s in job.servers.all()] == ["web-1"]
    assert job.job_type == "playbook" and job.timeout == 120 and job.created_by == staff


def test_server_page_form_defaults(staff_client, web1):
    job = _job_from(staff_client.post("/servers/web-1/", _server_form()))
    assert job.params == {"playbook": "ping.yml", "extra_vars": {}, "check": False}
    assert job.timeout == default_timeout()


def test_command_form_still_runs_commands(staff_client, web1):
    job = _job_from(staff_client.post("/servers/web-1/", {"command": "echo hi", "timeout": "", "working_dir": ""}))
    assert job.job_type == "remote_exec" and job.command == "echo hi"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"playbook": ""}, "This field is required."),
        ({"playbook": "nope.yml"}, "No playbook named 'nope.yml'."),
        ({"playbook": "../settings.yml"}, "Invalid playbook name '../settings.yml'"),
        ({"playbook": "/etc/passwd"}, "Invalid playbook name '/etc/passwd'"),
        ({"extra_vars": "\nok=1\n=2"}, "Extra vars line 3: expected NAME=VALUE"),
        ({"extra_vars": "{oops"}, "Extra vars are not valid JSON"),
        ({"extra_vars": '["a", "b"]'}, "Extra vars line 1: expected NAME=VALUE"),
        ({"extra_vars": "9lives=1"}, "'9lives' is not a valid variable name"),
        ({"extra_vars": "ansible_host=evil.example"}, "'ansible_host' is refused"),
        ({"extra_vars": '{"ansible_ssh_common_args": "-o StrictHostKeyChecking=no"}'}, "is refused"),
        ({"timeout": "0"}, "Timeout: Ensure this value is greater than or equal to 1."),
        ({"timeout": str(django_settings.JOB_MAX_TIMEOUT + 1)}, "Timeout: Ensure this value is less than or equal to"),
        ({"timeout": "soon"}, "Timeout: Enter a whole number."),
    ],
)
def test_server_page_form_refuses_bad_input(staff_client, web1, fields, message):
    response = staff_client.post("/servers/web-1/", _server_form(**fields))
    assert response.status_code == 400
    text = _text(response)
    assert message in text
    assert "Server</span> web-1" in text  # the server page again
    assert not Job.objects.exists()


def test_server_page_form_keeps_what_was_typed_and_escapes_it(staff_client, web1):
    response = staff_client.post("/servers/web-1/", _server_form(extra_vars=f"{XSS}", timeout="0"))
    assert response.status_code == 400
    raw = response.content.decode()
    assert ESCAPED_XSS in raw and XSS not in raw


def test_password_only_server_page_says_playbooks_need_a_key(staff_client, db):
    create_or_update_server(name="pw-only", host="127.0.0.1", port=9, username="deploy", password="s3cret-pw")
    page = staff_client.get("/servers/pw-only/")
    assert "logs in with a password only; playbooks need a key" in page.content.decode()
    response = staff_client.post("/servers/pw-only/", _server_form())
    assert response.status_code == 400
    assert "password login is not supported for playbooks" in _text(response)
    assert not Job.objects.exists()


# ---- the job page ------------------------------------------------------------------------------
def test_job_page_shows_playbook_servers_extra_vars_escaped_and_waits_for_the_recap(staff_client, web1, web2):
    job = create_playbook_job(
        playbook="uptime.yml", servers=[web1, web2], extra_vars={"note": XSS}, check=True, enqueue=False
    )
    raw = staff_client.get(f"/jobs/{job.job_id}/").content.decode()
    assert '<code class="cmd" id="job-playbook">uptime.yml</code>' in raw
    assert 'id="job-check-mode"' in raw
    assert '<a href="/servers/web-1/">web-1</a>, <a href="/servers/web-2/">web-2</a>' in raw
    assert ESCAPED_XSS in raw and XSS not in raw
    assert "Shown when the playbook ends." in raw and "js/playbook-recap.js" in raw


def test_job_page_shows_the_per_host_recap_of_a_finished_playbook(staff_client, web1, web2):
    job = create_playbook_job(playbook="ping.yml", servers=[web1, web2], enqueue=False)
    zero = {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0, "skipped": 0, "rescued": 0, "ignored": 0}
    hosts = {"web-2": {**zero, "unreachable": 1}, "web-1": {**zero, "ok": 4, "changed": 2, "skipped": 1}}
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, result={"playbook": "ping.yml", "hosts": hosts})
    raw = staff_client.get(f"/jobs/{job.job_id}/").content.decode()
    assert 'id="job-check-mode"' not in raw and 'id="job-extra-vars"' not in raw
    recap = raw[raw.index('id="playbook-recap"') : raw.index("</table>", raw.index('id="playbook-recap"'))]
    header = re.findall(r'<th class="num">(\w+)</th>', recap)
    assert header == ["ok", "changed", "failed", "unreachable", "skipped", "rescued", "ignored"]
    rows = re.findall(r'<tr( class="recap-bad")?><td class="mono">([^<]+)</td>(.*?)</tr>', recap)
    cells = {host: re.findall(r">(\d+)</td>", rest) for _, host, rest in rows}
    assert cells == {"web-1": ["4", "2", "0", "0", "1", "0", "0"], "web-2": ["0", "0", "0", "1", "0", "0", "0"]}
    assert [(bad, host) for bad, host, _ in rows] == [("", "web-1"), (' class="recap-bad"', "web-2")]
    assert "js/playbook-recap.js" not in raw  # finished: nothing left to wait for


def test_remote_exec_job_page_has_no_recap(staff_client, staff, web1):
    job = _job_from(staff_client.post("/servers/web-1/", {"command": "uptime"}))
    raw = staff_client.get(f"/jobs/{job.job_id}/").content.decode()
    assert 'id="playbook-recap"' not in raw and 'id="job-playbook"' not in raw


# ---- a real run --------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_form_run_on_the_test_sshd_shows_the_recap(client, server, staff_user, run_job):
    client.force_login(staff_user)
    response = client.post(f"/servers/{server.name}/", _server_form(playbook="ping.yml", extra_vars="who=pages"))
    job = _job_from(response)
    assert job.params == {"playbook": "ping.yml", "extra_vars": {"who": "pages"}, "check": False}
    job = run_job(job)
    assert job.status == "succeeded", job.error
    # The viewer's rows (the same API it reads) carry host and task for every task line.
    lines = client.get(f"/api/jobs/{job.job_id}/logs?tail=1000").json()["lines"]
    ok = [line for line in lines if line.get("event") == "runner_on_ok"]
    assert ok and all(line["host"] == "test" and line["task"] == "Log in and run Python" for line in ok)
    raw = client.get(f"/jobs/{job.job_id}/").content.decode()
    recap = raw[raw.index('id="playbook-recap"') : raw.index("</table>", raw.index('id="playbook-recap"'))]
    row = re.search(r'<tr><td class="mono">test</td>(.*?)</tr>', recap)
    assert row, recap
    assert re.findall(r">(\d+)</td>", row.group(1)) == ["1", "0", "0", "0", "0", "0", "0"]
