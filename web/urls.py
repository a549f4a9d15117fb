"""Every page's URL, in one place: where is `/servers/<name>/`? Here.

The URL names keep the namespaces templates and code reverse (`jobs:detail`, `jobs:server`,
`servers:edit`, `automation:detail`, `accounts:tokens`, `policies:list`, `approvals:list`): each
list below is one namespace.
livchat/urls.py includes this file at the root, next to the admin, the API and Django's login.
"""

from django.urls import include, path

from web.views import approvals, dashboard, jobs, playbooks, policies, servers, templates, tokens
from web.views import diff as diff_views
from web.views import search as search_views

# `jobs`: the dashboard, the job pages, the playbooks page and the server list and server page
# (they count, list and start jobs).
job_pages = [
    path("", dashboard.dashboard, name="dashboard"),
    path("jobs/", jobs.job_list, name="list"),
    # Before jobs/<job_id>/: "activity" and "run" are no job ids (those are <type>-<8 hex>).
    path("jobs/activity/", dashboard.server_activity, name="activity"),
    path("jobs/run/", jobs.fleet_run, name="fleet_run"),
    path("jobs/<str:job_id>/", jobs.job_detail, name="detail"),
    path("jobs/<str:job_id>/rerun/", jobs.rerun, name="rerun"),
    path("jobs/<str:job_id>/diff/", diff_views.job_diff_page, name="diff"),
    path("jobs/<str:job_id>/relaunch-failed/", jobs.relaunch_failed, name="relaunch-failed"),
    path("jobs/<str:job_id>/rerun-with-changes/", jobs.rerun_with_changes, name="rerun-with-changes"),
    path("jobs/<str:job_id>/facts/", jobs.job_facts, name="facts"),
    path("jobs/<str:job_id>/plays/", jobs.job_plays, name="plays"),
    path("jobs/<str:job_id>/plays/<int:n>/", jobs.job_play_result, name="play-result"),
    path("jobs/<str:job_id>/approve/", approvals.approve, name="approve"),
    path("jobs/<str:job_id>/reject/", approvals.reject, name="reject"),
    path("jobs/<str:job_id>/row/", jobs.job_row, name="row"),
    path("playbooks/", playbooks.playbook_list, name="playbooks"),
    path("search/", search_views.search_page, name="search"),
    path("servers/", servers.server_list, name="servers"),
    path("servers/<slug:name>/", servers.server_detail, name="server"),
]

# `servers`: the pages that change a server. `add` is a reserved server name.
server_pages = [
    path("servers/add/", servers.add, name="add"),
    path("servers/<slug:name>/edit/", servers.edit, name="edit"),
    path("servers/<slug:name>/repin/", servers.repin, name="repin"),
    path("servers/<slug:name>/delete/", servers.delete, name="delete"),
    path("servers/<slug:name>/test/", servers.server_test, name="test"),
]

# `automation`: the template pages.
template_pages = [
    path("templates/", templates.template_list, name="list"),
    path("templates/new/", templates.template_new, name="new"),
    path("templates/<slug:name>/", templates.template_detail, name="detail"),
    path("templates/<slug:name>/edit/", templates.template_edit, name="edit"),
    path("templates/<slug:name>/delete/", templates.template_delete, name="delete"),
    path("templates/<slug:name>/schedules/", templates.schedule_add, name="schedule-add"),
    path("templates/<slug:name>/schedules/<int:pk>/enabled/", templates.schedule_toggle, name="schedule-toggle"),
    path("templates/<slug:name>/schedules/<int:pk>/delete/", templates.schedule_delete, name="schedule-delete"),
]

# `accounts`: the user's own API tokens.
token_pages = [
    path("accounts/tokens/", tokens.token_list, name="tokens"),
    path("accounts/tokens/<int:pk>/revoke", tokens.token_revoke, name="token-revoke"),
]

# `policies`: the guardrails' rules (every signed-in user reads them; Admins change them).
policy_pages = [
    path("policies/", policies.policy_list, name="list"),
    path("policies/new/", policies.policy_new, name="new"),
    path("policies/<int:pk>/edit/", policies.policy_edit, name="edit"),
    path("policies/<int:pk>/delete/", policies.policy_delete, name="delete"),
    path("policies/<int:pk>/move/", policies.policy_move, name="move"),
]

# `approvals`: the jobs policies hold for people; the live part of the page; the nav bar's count.
approval_pages = [
    path("approvals/", approvals.approval_list, name="list"),
    path("approvals/live/", approvals.approval_live, name="live"),
    path("approvals/count", approvals.approval_count, name="count"),
]

urlpatterns = [
    # `servers` before `jobs`: /servers/add/ would otherwise be the server page of a server named "add".
    path("", include((server_pages, "servers"))),
    path("", include((template_pages, "automation"))),
    path("", include((token_pages, "accounts"))),
    path("", include((policy_pages, "policies"))),
    path("", include((approval_pages, "approvals"))),
    path("", include((job_pages, "jobs"))),
]
