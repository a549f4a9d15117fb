"""The job lists: one row template for pages and live rows, the row endpoint's filters,
server activity counts, the jobs list's search and columns, and the admin's job servers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from jobs.models import Job, JobStatus, JobType
from jobs.services import create_remote_exec_job
from servers.services import create_or_update_server
from tests.helpers import make_user
from web.templatetags.job_rows import duration_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(db):
    server, _ = create_or_update_server(name="web-1", host="127.0.0.1", port=9, username="deploy")
    return server


@pytest.fixture
def db1(db):
    server, _ = create_or_update_server(name="db-1", host="127.0.0.1", port=9, username="deploy")
    return server


@pytest.fixture
def user(db):
    return make_user("alice", role="Operators")


@pytest.fixture
def alice(client, user):
    client.force_login(user)
    return client


def exec_job(server, command, user=None, **fields) -> Job:
    job = create_remote_exec_job(server=server, command=command, created_by=user, enqueue=False)
    if fields:
        Job.objects.filter(pk=job.pk).update(**fields)
        job.refresh_from_db()
    return job


def playbook_job(servers, name="ping.yml", **fields) -> Job:
    job = Job.objects.create(
        job_id=f"playbook-{Job.objects.count():08x}",
        job_type=JobType.PLAYBOOK,
        params={"playbook": name},
        server=servers[0],
        **fields,
    )
    job.servers.set(servers)
    return job


def row_in(html: str, job_id: str) -> str:
    found = re.search(rf'<tr data-job-id="{re.escape(job_id)}".*?</tr>', html, re.DOTALL)
    assert found, f"no row for {job_id}"
    return found.group(0)


def test_the_row_endpoint_renders_the_row_the_pages_render(alice, user, web, db1):
    now = timezone.now()
    finished = exec_job(
        web,
        "echo <b>hi</b>",
        user,
        status=JobStatus.SUCCEEDED,
        started_at=now - timedelta(seconds=75),
        finished_at=now,
        exit_code=0,
    )
    multi = playbook_job([web, db1], status=JobStatus.FAILED)
    for job in (finished, multi):
        row = alice.get(f"/jobs/{job.job_id}/row/")
        assert row.status_code == 200 and row["Content-Type"].startswith("text/html")
        live = row.content.decode().strip()
        assert live.startswith("<tr") and live.endswith("</tr>")
        for page in ("/", "/jobs/", f"/servers/{web.name}/"):
            assert row_in(alice.get(page).content.decode(), job.job_id) == live, page
    live = alice.get(f"/jobs/{finished.job_id}/row/").content.decode()
    assert "echo &lt;b&gt;hi&lt;/b&gt;" in live  # the command, escaped; not the job type
    assert "1 min 15 s" in live and ">alice<" in live
    assert 'data-status="succeeded"' in live and "<time" in live and 'data-clock="ago"' in live
    multi_row = alice.get(f"/jobs/{multi.job_id}/row/").content.decode()
    assert "ping.yml" in multi_row and "db-1" in multi_row and "web-1" in multi_row


def test_the_row_endpoint_answers_204_when_the_job_is_not_in_that_list(alice, web, db1):
    job = exec_job(web, "uptime")
    url = f"/jobs/{job.job_id}/row/"
    assert alice.get(url, {"server": "web-1", "status": "pending"}).status_code == 200
    assert alice.get(url, {"q": "UPT", "type": "remote_exec"}).status_code == 200
    assert alice.get(url, {"server": "db-1"}).status_code == 204
    assert alice.get(url, {"status": "failed"}).status_code == 204
    assert alice.get(url, {"type": "playbook"}).status_code == 204
    assert alice.get(url, {"q": "reboot"}).status_code == 204
    bad = alice.get(url, {"status": "exploded"})
    assert bad.status_code == 400 and "Status: Select a valid choice" in bad.content.decode()
    assert alice.get("/jobs/remote_exec-00000000/row/").status_code == 404


def test_rows_and_counts_of_servers_limited_to_other_groups_are_not_shown(alice, web, db1):
    secret = exec_job(db1, "cat /etc/shadow")
    db1.allowed_groups.set([Group.objects.create(name="dba")])
    assert alice.get(f"/jobs/{secret.job_id}/row/").status_code == 404
    exec_job(web, "sleep 1", status=JobStatus.RUNNING)
    exec_job(web, "true", status=JobStatus.SUCCEEDED)
    counts = alice.get("/jobs/activity/")
    assert counts.status_code == 200 and counts.json() == {"web-1": 1}
    servers_page = alice.get("/servers/").content.decode()
    assert servers_page.count("data-server-active=") == 1 and "js/dashboard.js" in servers_page  # kept live


def test_activity_and_rows_need_a_login(client, web):
    job = exec_job(web, "uptime")
    assert client.get("/jobs/activity/").status_code == 302
    assert client.get(f"/jobs/{job.job_id}/row/").status_code == 302
    client.force_login(make_user("nobody", role=None))
    assert client.get("/jobs/activity/").status_code == 403


def test_the_jobs_list_searches_command_and_playbook_and_keeps_filters_in_links(alice, user, web, db1):
    deploy = exec_job(web, "deploy --app shop", user)
    exec_job(web, "backup-now")
    setup = playbook_job([web, db1], name="base_setup.yml")
    for _ in range(50):
        exec_job(db1, "DEPLOY nightly")

    text = alice.get("/jobs/", {"q": "deploy", "server": "web-1"}).content.decode()
    assert deploy.job_id in text and "1 job matching" in text and "backup-now" not in text
    assert 'value="deploy"' in text  # the search box keeps what was typed
    found = alice.get("/jobs/", {"q": "SETUP"}).content.decode()
    assert setup.job_id in found and "1 job matching" in found

    many = alice.get("/jobs/", {"q": "deploy"}).content.decode()
    assert "51 jobs matching" in many and "q=deploy&amp;page=2" in many
    assert 'data-live="q=deploy"' in many  # page 1 takes new rows that match
    second = alice.get("/jobs/", {"q": "deploy", "page": 2}).content.decode()
    assert "data-live=" not in second and "q=deploy&amp;page=1" in second

    blank = alice.get("/jobs/?q=&status=&type=&server=db-1").content.decode()
    assert 'data-live="server=db-1"' in blank  # empty fields are left out of the query


def test_bad_search_input_is_explained(alice, web):
    exec_job(web, "uptime")
    long = alice.get("/jobs/", {"q": "x" * 201})
    text = long.content.decode()
    assert "Search: Search for at most 200 characters." in text
    assert "data-live=" not in text  # no live rows under a filter that was not applied
    nul = alice.get("/jobs/", {"q": "a\x00b"}).content.decode()
    assert "Search: Null characters are not allowed." in nul
    bogus = alice.get("/jobs/", {"type": "cron"}).content.decode()
    assert "Type: Select a valid choice." in bogus and "type:" not in bogus


def test_the_jobs_list_shows_duration_and_user(alice, user, web):
    now = timezone.now()
    running = exec_job(web, "sleep 100", user, status=JobStatus.RUNNING, started_at=now - timedelta(seconds=3725))
    pending = exec_job(web, "uptime")
    text = alice.get("/jobs/").content.decode()
    assert '<th class="num">Duration</th>' in text and "<th>User</th>" in text
    row = row_in(text, running.job_id)
    assert "data-elapsed-from=" in row and "1 h 2 min" in row and ">alice<" in row
    assert "data-elapsed-from=" not in row_in(text, pending.job_id)


def test_duration_words():
    assert duration_text(0) == "0 s"
    assert duration_text(59.9) == "59 s"
    assert duration_text(65) == "1 min 5 s"
    assert duration_text(3600 * 26 + 61) == "26 h 1 min"


def test_dashboard_lists_recent_jobs_latest_finished_first(alice, web):
    now = timezone.now()
    first = exec_job(web, "a", status=JobStatus.SUCCEEDED, finished_at=now)
    second = exec_job(web, "b", status=JobStatus.FAILED, finished_at=now - timedelta(minutes=5))
    text = alice.get("/").content.decode()
    recent = text[text.index('id="recent-jobs"') :]
    assert recent.index(first.job_id) < recent.index(second.job_id)  # created later, finished earlier
    assert 'data-live-holds="final"' in recent and 'data-live-order="finished-desc"' in recent


# ---- admin -------------------------------------------------------------------------------
@pytest.fixture
def root(client, db):
    client.force_login(make_user("root", role=None, is_staff=True, is_superuser=True))
    return client


def test_admin_lists_a_playbook_job_under_each_of_its_servers(root, web, db1):
    job = playbook_job([web, db1])
    only_web = exec_job(web, "uptime")
    listing = root.get("/admin/jobs/job/").content.decode()
    assert "db-1, web-1" in listing  # every server of the job, in its row
    by_db = root.get("/admin/jobs/job/", {"servers__id__exact": db1.pk}).content.decode()
    assert job.job_id in by_db and only_web.job_id not in by_db
    by_web = root.get("/admin/jobs/job/", {"servers__id__exact": web.pk}).content.decode()
    assert by_web.count(job.job_id) == by_web.count(only_web.job_id) > 0  # listed once, not per server
    assert f"servers__id__exact={db1.pk}" in listing  # the filter offers every server


def test_admin_messages_keep_server_names_as_typed(root, web):
    response = root.post(f"/admin/servers/server/{web.pk}/test-connection/", follow=True)
    text = response.content.decode()
    assert "Server web-1: Cannot reach" in text and "Web-1" not in text
