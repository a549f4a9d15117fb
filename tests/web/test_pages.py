"""The HTML pages and the admin additions, through Django's test client."""

from __future__ import annotations

import re

import pytest

from jobs.models import Job, JobStatus
from jobs.services import create_remote_exec_job
from servers.services import create_or_update_server
from tests.helpers import make_user

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"


@pytest.fixture
def admin_client_(client, db):
    user = make_user("root", role=None, is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


@pytest.fixture
def offline_server(db):
    # Nothing listens on port 9: pages never connect, and "test connection" must fail.
    server, _ = create_or_update_server(name="web-1", host="127.0.0.1", port=9, username="deploy", tags=["prod"])
    return server


@pytest.fixture
def job(offline_server, staff):
    return create_remote_exec_job(server=offline_server, command="uptime", created_by=staff, enqueue=False)


def page_urls(server, job) -> list[str]:
    return ["/", "/servers/", f"/servers/{server.name}/", "/jobs/", f"/jobs/{job.job_id}/"]


def test_pages_send_anonymous_visitors_to_login(client, offline_server, job):
    for url in page_urls(offline_server, job):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next=")


def test_pages_refuse_users_without_a_role(client, offline_server, job):
    user = make_user("visitor", role=None, is_staff=True)
    client.force_login(user)  # staff only opens the Django admin: it grants nothing here
    for url in page_urls(offline_server, job):
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"visitor may not see servers and jobs (needs the Viewers role)" in response.content


def test_login_page_logs_a_staff_user_in(client, staff):
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and b'name="password"' in page.content
    bad = client.post("/accounts/login/", {"username": "op", "password": "wrong"})
    assert bad.status_code == 200 and b"correct username and password" in bad.content
    good = client.post("/accounts/login/", {"username": "op", "password": "pw-op-12345", "next": "/jobs/"})
    assert good.status_code == 302 and good["Location"] == "/jobs/"
    assert client.get("/jobs/").status_code == 200


def test_every_page_renders_for_staff(staff_client, offline_server, job):
    expectations = {
        "/": [job.job_id, "Running now", offline_server.name, "js/dashboard.js"],
        "/servers/": [offline_server.name, "deploy@127.0.0.1:9", "not pinned yet"],
        f"/servers/{offline_server.name}/": ["Run a command", job.job_id, "prod", "not pinned yet"],
        "/jobs/": [job.job_id, "uptime", "1 job"],
        f"/jobs/{job.job_id}/": [job.job_id, "uptime", "data-logviewer", "js/jobpage.js", "/logs/download"],
    }
    for url, needles in expectations.items():
        response = staff_client.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        for needle in needles:
            assert needle in text, (url, needle)


def test_job_page_boots_the_viewer_with_the_job_state(staff_client, job):
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, exit_code=0, line_count=1234, last_seq=1234)
    text = staff_client.get(f"/jobs/{job.job_id}/").content.decode()
    boot = re.search(r'<script id="lv-boot" type="application/json">(.*?)</script>', text).group(1)
    assert '"last_seq": 1234' in boot and '"status": "succeeded"' in boot and '"final": true' in boot
    assert 'data-lv="cancel" hidden' in text  # no cancel button on a finished job


def test_pinned_host_key_is_shown_on_the_server_page(staff_client, offline_server):
    offline_server.host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyForTest"
    offline_server.host_key_fingerprint = "SHA256:abcdefFingerprintForTest"
    offline_server.save()
    text = staff_client.get(f"/servers/{offline_server.name}/").content.decode()
    assert "SHA256:abcdefFingerprintForTest" in text
    assert "AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyForTest" in text


def test_run_form_creates_a_job_and_opens_its_page(staff_client, offline_server, staff):
    response = staff_client.post(
        f"/servers/{offline_server.name}/",
        {"command": "echo hello", "timeout": "42", "working_dir": "/tmp"},
    )
    assert response.status_code == 302
    job = Job.objects.get()
    assert response["Location"] == f"/jobs/{job.job_id}/"
    assert job.command == "echo hello" and job.timeout == 42 and job.params["working_dir"] == "/tmp"
    assert job.server == offline_server and job.created_by == staff and job.status == JobStatus.PENDING
    assert staff_client.get(response["Location"]).status_code == 200


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"command": ""}, "This field is required."),
        ({"command": "   "}, "This field is required."),
        ({"command": "ls", "timeout": "0"}, "greater than or equal to 1"),
        ({"command": "ls", "timeout": "soon"}, "Enter a whole number."),
        ({"command": "ls", "timeout": "99999999"}, "less than or equal to"),
        ({"command": "a\x00b"}, "Null characters are not allowed."),
        ({"command": "ls", "working_dir": "/tmp\n/etc"}, "working_dir must be a path without NUL or newline"),
    ],
)
def test_bad_run_form_input_shows_an_error_and_starts_nothing(staff_client, offline_server, data, message):
    response = staff_client.post(f"/servers/{offline_server.name}/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Job.objects.exists()


def test_unknown_server_and_job_are_404_pages(staff_client, db):
    for url in ("/servers/nope/", "/jobs/remote_exec-00000000/"):
        response = staff_client.get(url)
        assert response.status_code == 404
        assert b"Not found" in response.content


def test_output_and_descriptions_are_escaped(staff_client, offline_server, staff):
    offline_server.description = f"db host {XSS}"
    offline_server.tags = [XSS]
    offline_server.save()
    job = create_remote_exec_job(server=offline_server, command=f"echo '{XSS}'", created_by=staff, enqueue=False)
    Job.objects.filter(pk=job.pk).update(error=f"failed: {XSS}", current_step=XSS)
    for url in ("/", "/servers/", f"/servers/{offline_server.name}/", "/jobs/", f"/jobs/{job.job_id}/"):
        text = staff_client.get(url).content.decode()
        assert XSS not in text, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text or "\\u003Cscript\\u003E" in text, url


def test_job_list_filters_and_pages(staff_client, offline_server, staff):
    other, _ = create_or_update_server(name="db-1", host="127.0.0.1", port=9)
    for i in range(53):
        create_remote_exec_job(server=offline_server, command=f"job {i}", enqueue=False)
    failed = create_remote_exec_job(server=other, command="false", enqueue=False)
    Job.objects.filter(pk=failed.pk).update(status=JobStatus.FAILED)

    first = staff_client.get("/jobs/").content.decode()
    assert "54 jobs" in first and "page 1 of 2" in first
    second = staff_client.get("/jobs/?page=2").content.decode()
    assert "page 2 of 2" in second
    assert len(re.findall(r'<tr data-job-id="', first)) == 50
    assert len(re.findall(r'<tr data-job-id="', second)) == 4

    by_status = staff_client.get("/jobs/?status=failed").content.decode()
    assert failed.job_id in by_status and "1 job matching" in by_status
    by_server = staff_client.get("/jobs/?server=db-1&type=remote_exec").content.decode()
    assert failed.job_id in by_server and "1 job matching" in by_server
    paged = staff_client.get("/jobs/?server=web-1&page=2").content.decode()
    assert "server=web-1&amp;page=1" in paged  # filters survive paging

    bogus = staff_client.get("/jobs/?status=exploded")
    assert bogus.status_code == 200
    assert "Select a valid choice" in bogus.content.decode()


# ---- admin -------------------------------------------------------------------------------
def test_admin_job_detail_is_read_only_with_the_live_viewer(admin_client_, job):
    response = admin_client_.get(f"/admin/jobs/job/{job.pk}/change/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "data-logviewer" in text and "js/jobpage.js" in text and job.job_id in text
    assert 'name="_save"' not in text  # read-only: nothing to save
    assert "Re-run" in text


def test_admin_job_search_and_filters(admin_client_, offline_server):
    a = create_remote_exec_job(server=offline_server, command="deploy-the-app", enqueue=False)
    b = create_remote_exec_job(server=offline_server, command="backup-now", enqueue=False)
    found = admin_client_.get("/admin/jobs/job/", {"q": "deploy-the"}).content.decode()
    assert a.job_id in found and b.job_id not in found
    by_id = admin_client_.get("/admin/jobs/job/", {"q": b.job_id}).content.decode()
    assert b.job_id in by_id and a.job_id not in by_id
    filtered = admin_client_.get("/admin/jobs/job/", {"status__exact": "running"}).content.decode()
    assert a.job_id not in filtered
    assert admin_client_.get("/admin/jobs/joblogline/").status_code == 404  # lines are no changelist


def test_admin_rerun_action_and_button_start_a_copy(admin_client_, job):
    response = admin_client_.post("/admin/jobs/job/", {"action": "rerun", "_selected_action": [job.pk]})
    assert response.status_code == 302
    copy = Job.objects.exclude(pk=job.pk).get()
    assert response["Location"] == f"/jobs/{copy.job_id}/"
    assert copy.command == job.command and copy.server == job.server and copy.timeout == job.timeout
    assert copy.status == JobStatus.PENDING

    button = admin_client_.post(f"/admin/jobs/job/{job.pk}/rerun/")
    assert button.status_code == 302 and Job.objects.count() == 3
    assert admin_client_.get(f"/admin/jobs/job/{job.pk}/rerun/").status_code == 405


def test_admin_rerun_of_a_playbook_job_and_of_a_job_whose_server_is_gone(admin_client_, make_server, job):
    from jobs.services import create_playbook_job

    playbook = create_playbook_job(playbook="ping.yml", servers=[make_server(name="pb")], timeout=60, enqueue=False)
    admin_client_.post("/admin/jobs/job/", {"action": "rerun", "_selected_action": [playbook.pk]})
    copy = Job.objects.filter(job_type="playbook").exclude(pk=playbook.pk).get()
    assert copy.params == {**playbook.params, "rerun_of": playbook.job_id} and copy.timeout == 60
    assert [s.name for s in copy.servers.all()] == ["pb"]

    job.server.delete()
    response = admin_client_.post(f"/admin/jobs/job/{job.pk}/rerun/", follow=True)
    assert "cannot be re-run: its server no longer exists" in response.content.decode()


def test_admin_server_page_shows_pinned_key_and_keeps_secrets_write_only(admin_client_, make_server):
    server = make_server(name="pinned", password="s3cret-password")
    server.host_key_fingerprint = "SHA256:shownFingerprint"
    server.save()
    text = admin_client_.get(f"/admin/servers/server/{server.pk}/change/").content.decode()
    assert "SHA256:shownFingerprint" in text and "Test connection" in text
    cred = admin_client_.get(f"/admin/servers/credential/{server.credential_id}/change/").content.decode()
    assert "s3cret-password" not in cred and "BEGIN OPENSSH PRIVATE KEY" not in cred


def test_admin_test_connection_pins_and_reports(admin_client_, make_server, offline_server):
    server = make_server(name="reachable")
    assert server.host_key == ""
    response = admin_client_.post(
        "/admin/servers/server/", {"action": "test_connection", "_selected_action": [server.pk]}, follow=True
    )
    text = response.content.decode()
    assert "Server reachable: connected to" in text and "pinned host key SHA256:" in text  # name as typed
    server.refresh_from_db()
    assert server.host_key_fingerprint.startswith("SHA256:")

    again = admin_client_.post(f"/admin/servers/server/{offline_server.pk}/test-connection/", follow=True)
    assert "Server web-1: Cannot reach deploy@127.0.0.1:9" in again.content.decode()
