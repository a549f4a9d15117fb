"""The approval pages (guardrails, issue 23): a job a policy holds is on /approvals/ with what
would run, where, who asked through what and the rule; an Admin approves or rejects it from
there or from the job page; refusals (one's own job, a finished job, no right) are messages,
never a 500; the navigation counts what the user could decide; forms that start jobs say what a
policy did."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.models import ApprovalVote, Job, JobStatus
from jobs.policy.edit import create_policy
from jobs.services import create_remote_exec_job
from servers.models import Server
from tests.helpers import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def prod(db):
    return Server.objects.create(name="prod-1", host="127.0.0.1", port=9, username="u", tags=["prod"])


@pytest.fixture
def rule(db):
    return create_policy(
        values={
            "name": "prod-writes",
            "description": "Reboots of production need a second person",
            "command_regex": "reboot",
            "tags": ["prod"],
            "decision": "approve",
            "approvers": "Admins",
        }
    )


@pytest.fixture
def operator(db):
    return make_user("ap-operator", role="Operators")


@pytest.fixture
def held(prod, rule, operator):
    job = create_remote_exec_job(server=prod, command="reboot", created_by=operator, via="web", enqueue=False)
    assert job.status == JobStatus.AWAITING_APPROVAL
    return job


@pytest.fixture
def admin(db):
    return make_user("ap-admin")


def _login(client, user):
    client.force_login(user)
    return client


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_a_held_job_is_on_the_approvals_page_with_everything_needed_to_decide(client, held, admin):
    html = _login(client, admin).get(reverse("approvals:list")).content.decode()
    assert f'data-job-id="{held.job_id}" data-can-decide="yes"' in html
    assert '<code class="cmd" data-field="command">reboot</code>' in html
    assert ">prod-1</a>" in html
    assert 'ap-operator <span class="muted">via</span> web' in html
    assert "<strong>prod-writes</strong>" in html and "Reboots of production need a second person" in html
    assert '0 of 1 <span class="muted">by</span> Admins' in html
    assert "data-expires-at=" in html and "23 h 59 min" in html
    assert f'action="{reverse("jobs:approve", args=[held.job_id])}"' in html
    assert f'formaction="{reverse("jobs:reject", args=[held.job_id])}"' in html
    # The live part alone: what the page fetches again when statuses change.
    live = client.get(reverse("approvals:live")).content.decode()
    assert live.lstrip().startswith('<div id="approval-lists"') and held.job_id in live and "<html" not in live


def test_an_admin_approves_from_the_page_and_the_job_is_handed_to_the_worker(client, held, admin):
    _login(client, admin)
    response = client.post(
        reverse("jobs:approve", args=[held.job_id]),
        {"comment": "go ahead", "next": reverse("approvals:list")},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("approvals:list")
    assert f"Approved {held.job_id}: it runs now." in _messages(response)
    held.refresh_from_db()
    assert held.status == JobStatus.PENDING
    vote = ApprovalVote.objects.get(request__job=held)
    assert (vote.username, vote.approve, vote.comment) == ("ap-admin", True, "go ahead")
    html = response.content.decode()
    assert f'data-job-id="{held.job_id}" data-can-decide' not in html  # left the waiting list
    assert f'<tr data-job-id="{held.job_id}" data-outcome="approved">' in html  # recently decided


def test_a_reject_with_a_comment_ends_the_job_with_the_reason(client, held, admin):
    _login(client, admin)
    response = client.post(reverse("jobs:reject", args=[held.job_id]), {"comment": "not during office hours"})
    assert response.status_code == 302 and response.url == reverse("jobs:detail", args=[held.job_id])
    held.refresh_from_db()
    assert held.status == JobStatus.REJECTED
    assert held.error == "Rejected by ap-admin: not during office hours"
    page = client.get(response.url).content.decode()
    assert 'id="approval-panel"' in page and 'data-outcome="rejected"' in page
    assert "Rejected by ap-admin: not during office hours" in page
    assert "by <strong>ap-admin</strong>" in page and "not during office hours" in page
    assert 'class="decide-form"' not in page


def test_the_requester_cannot_approve_their_own_job(client, held, operator):
    _login(client, operator)
    page = client.get(reverse("approvals:list")).content.decode()
    assert 'data-can-decide="no"' in page and "You asked for this job" in page
    response = client.post(reverse("jobs:approve", args=[held.job_id]), {"next": "/approvals/"}, follow=True)
    assert response.status_code == 200
    assert any("You asked for this job" in m for m in _messages(response))
    held.refresh_from_db()
    assert held.status == JobStatus.AWAITING_APPROVAL and not ApprovalVote.objects.exists()


def test_an_approver_without_run_on_a_server_is_told_why(client, held, admin, prod):
    from django.contrib.auth.models import Group

    ops = Group.objects.create(name="prod-ops")
    prod.allowed_groups.add(ops)
    other_admin = make_user("ap-admin-2")
    other_admin.groups.add(ops)
    _login(client, admin)  # an Admin, but not in prod-ops: the job reads as no job at all
    assert client.post(reverse("jobs:approve", args=[held.job_id])).status_code == 404
    viewer = make_user("ap-viewer", role="Viewers")
    viewer.groups.add(ops)
    _login(client, viewer)
    response = client.post(reverse("jobs:approve", args=[held.job_id]), follow=True)
    assert any("may not approve jobs (needs RUN on each server)" in m for m in _messages(response))
    held.refresh_from_db()
    assert held.status == JobStatus.AWAITING_APPROVAL


def test_approving_a_job_that_is_not_waiting_is_a_message_not_an_error(client, held, admin, prod):
    _login(client, admin)
    client.post(reverse("jobs:reject", args=[held.job_id]))
    response = client.post(reverse("jobs:approve", args=[held.job_id]), follow=True)
    assert response.status_code == 200
    assert any("is not waiting for approval (it is rejected)" in m for m in _messages(response))
    plain = create_remote_exec_job(server=prod, command="uptime", created_by=admin, enqueue=False)
    Job.objects.filter(pk=plain.pk).update(status=JobStatus.SUCCEEDED)
    response = client.post(reverse("jobs:approve", args=[plain.job_id]), {"comment": "x" * 3000}, follow=True)
    assert response.status_code == 200 and _messages(response)
    assert client.post(reverse("jobs:approve", args=["remote_exec-00000000"])).status_code == 404
    assert client.get(reverse("jobs:approve", args=[held.job_id])).status_code == 405


def test_a_comment_too_long_is_refused_with_a_message(client, held, admin):
    _login(client, admin)
    response = client.post(reverse("jobs:reject", args=[held.job_id]), {"comment": "x" * 3000}, follow=True)
    assert any("comment is longer than 2000 characters" in m for m in _messages(response))
    held.refresh_from_db()
    assert held.status == JobStatus.AWAITING_APPROVAL


def test_the_job_page_of_a_held_job_shows_the_panel_and_the_buttons(client, held, admin, operator):
    page = _login(client, admin).get(reverse("jobs:detail", args=[held.job_id]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="approval-panel"' in html and "waiting for approval" in html
    assert "<strong>prod-writes</strong>" in html and "Reboots of production need a second person" in html
    assert 'class="decide-form"' in html and f'name="next" value="{reverse("jobs:detail", args=[held.job_id])}"' in html
    assert 'data-lv="status">awaiting approval<' in html  # the viewer of a job with no lines yet
    # The person who asked sees why they may not decide instead of the buttons.
    html = _login(client, operator).get(reverse("jobs:detail", args=[held.job_id])).content.decode()
    assert 'class="decide-form"' not in html and "You asked for this job" in html


def test_the_navigation_counts_jobs_waiting_for_the_user(client, held, admin):
    html = _login(client, admin).get("/").content.decode()
    assert '<span class="nav-count" id="approval-count" title="1 job waiting for your approval">1</span>' in html
    assert "js/approval-count.js" in html
    assert client.get(reverse("approvals:count")).json() == {"count": 1}
    client.post(reverse("jobs:approve", args=[held.job_id]))
    assert client.get(reverse("approvals:count")).json() == {"count": 0}

    viewer = make_user("ap-nav-viewer", role="Viewers")
    html = _login(client, viewer).get("/").content.decode()
    assert 'id="approval-count"' in html and "hidden>0</span>" in html
    assert "js/approval-count.js" not in html  # a Viewer approves nothing: no live feed for it
    assert client.get(reverse("approvals:count")).json() == {"count": 0}


def test_the_server_page_form_says_a_job_waits_or_names_the_rule_that_refuses(client, prod, rule, operator):
    _login(client, operator)
    url = reverse("jobs:server", args=[prod.name])
    response = client.post(url, {"command": "sudo reboot now"}, follow=True)
    job = Job.objects.get()
    assert response.redirect_chain[-1][0] == reverse("jobs:detail", args=[job.job_id])
    assert "Waiting for approval by Admins (policy prod-writes)" in " ".join(_messages(response))
    create_policy(
        values={"name": "no-rm", "description": "never", "command_regex": "rm -rf", "decision": "deny", "position": 0}
    )
    response = client.post(url, {"command": "rm -rf /srv"})
    assert response.status_code == 400
    assert "Refused by policy &#x27;no-rm&#x27; (never)." in response.content.decode()
    assert Job.objects.count() == 1


def test_the_fleet_form_and_rerun_name_the_rule(client, prod, rule, operator, admin):
    create_policy(values={"name": "no-halt", "command_regex": "halt", "decision": "deny"})
    _login(client, operator)
    response = client.post(reverse("jobs:fleet_run"), {"command": "halt", "tags": ["prod"]})
    assert response.status_code == 400 and "Refused by policy &#x27;no-halt&#x27;." in response.content.decode()
    response = client.post(reverse("jobs:fleet_run"), {"command": "reboot", "tags": ["prod"]}, follow=True)
    assert "Waiting for approval by Admins (policy prod-writes)" in " ".join(_messages(response))
    first = Job.objects.get()
    response = client.post(reverse("jobs:rerun", args=[first.job_id]), follow=True)
    assert "Waiting for approval by Admins" in " ".join(_messages(response))
    assert Job.objects.count() == 2
    Job.objects.filter(pk=first.pk).update(params={**first.params, "command": "halt"})
    response = client.post(reverse("jobs:rerun", args=[first.job_id]), follow=True)
    assert any("Refused by policy 'no-halt'" in m for m in _messages(response))
    assert Job.objects.count() == 2


def test_the_dashboard_and_the_job_list_show_the_new_statuses(client, held, admin):
    _login(client, admin)
    html = client.get("/").content.decode()
    assert 'id="awaiting-card"' in html and 'id="awaiting-card" hidden' not in html
    assert f'data-job-id="{held.job_id}" data-status="awaiting_approval"' in html
    listed = client.get(reverse("jobs:list"), {"status": "awaiting_approval"}).content.decode()
    assert held.job_id in listed and '<option value="rejected">' in listed
    client.post(reverse("jobs:reject", args=[held.job_id]))
    listed = client.get(reverse("jobs:list"), {"status": "rejected"}).content.decode()
    assert held.job_id in listed


def test_the_admin_job_page_shows_the_approval_request(client, held, admin):
    _login(client, admin)
    client.post(reverse("jobs:reject", args=[held.job_id]), {"comment": "no"})
    staff = make_user("ap-staff-2", is_staff=True)
    client.force_login(staff)
    html = client.get(reverse("admin:jobs_job_change", args=[held.pk])).content.decode()
    assert "prod-writes" in html and "ap-admin rejected: no" in html and "Rejected by ap-admin: no" in html


def test_the_playbook_forms_and_the_template_launch_say_what_a_policy_did(client, prod, operator):
    from automation.services import save_template

    create_policy(values={"name": "no-facts", "playbook": "facts.yml", "decision": "deny", "description": "too slow"})
    create_policy(
        values={
            "name": "pings-asked",
            "playbook": "ping*",
            "decision": "approve",
            "approvers": "Admins",
            "approvals": 2,
        }
    )
    _login(client, operator)
    response = client.post(reverse("jobs:playbooks"), {"playbook": "facts.yml", "servers": [prod.name]})
    assert response.status_code == 400
    assert "Refused by policy &#x27;no-facts&#x27; (too slow)." in response.content.decode()
    server_form = {"form": "playbook", "pb-playbook": "facts.yml", "pb-extra_vars": "", "pb-timeout": ""}
    response = client.post(reverse("jobs:server", args=[prod.name]), server_form)
    assert response.status_code == 400 and "Refused by policy &#x27;no-facts&#x27;" in response.content.decode()
    response = client.post(reverse("jobs:playbooks"), {"playbook": "ping.yml", "servers": [prod.name]}, follow=True)
    assert "Waiting for approval by 2 of Admins (policy pings-asked)" in " ".join(_messages(response))
    assert Job.objects.get().status == JobStatus.AWAITING_APPROVAL

    save_template(
        name="wipe",
        kind="command",
        command="rm -rf /srv/{{ what }}",
        servers=[prod.name],
        prompts=[{"name": "what", "type": "text", "required": True}],
    )
    create_policy(values={"name": "no-rm", "command_regex": "rm -rf", "decision": "deny"})
    response = client.post(reverse("automation:detail", args=["wipe"]), {"prompt_what": "cache"})
    assert response.status_code == 400 and "Refused by policy &#x27;no-rm&#x27;." in response.content.decode()
    assert Job.objects.count() == 1
    save_template(name="restart-web", kind="command", command="systemctl restart nginx", servers=[prod.name])
    create_policy(values={"name": "restarts", "command_regex": "restart", "decision": "approve", "approvers": "Admins"})
    response = client.post(reverse("automation:detail", args=["restart-web"]), {}, follow=True)
    held = Job.objects.latest("id")
    assert response.redirect_chain[-1][0] == reverse("jobs:detail", args=[held.job_id])
    assert held.status == JobStatus.AWAITING_APPROVAL
    assert "Waiting for approval by Admins (policy restarts)" in " ".join(_messages(response))


def test_a_job_needing_two_approvals_waits_for_the_second_person(client, prod, operator, admin):
    create_policy(
        values={
            "name": "two-keys",
            "command_regex": "drop",
            "decision": "approve",
            "approvers": "Admins",
            "approvals": 2,
        }
    )
    job = create_remote_exec_job(server=prod, command="drop database", created_by=operator, enqueue=False)
    _login(client, admin)
    response = client.post(reverse("jobs:approve", args=[job.job_id]), {"next": "/approvals/"}, follow=True)
    assert f"Approved {job.job_id} (1 of 2): it waits for 1 more approval by Admins." in _messages(response)
    html = response.content.decode()
    assert 'data-can-decide="no"' in html and "You approved it already" in html
    assert client.get(reverse("approvals:count")).json() == {"count": 0}
    _login(client, make_user("ap-admin-b"))
    client.post(reverse("jobs:approve", args=[job.job_id]))
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING and job.approval.votes.count() == 2
