"""The server pages. Reading and running: the list (`/servers/`, each server's last contact)
and the server page (`/servers/<name>/`: its pinned key, "Test connection" (`test/`), "run a
command", "run a playbook", recent jobs). Changing: add (`/servers/add/`), edit with "Test
connection" (`/servers/<name>/edit/`), re-pin the host key (`/servers/<name>/repin/`) and delete
(`/servers/<name>/delete/`), each needing the "manage servers" permission.

The add/edit form itself (saving, "Test connection", "Save anyway") is web/views/server_form.py.

Starting a job is jobs.services (a playbook: web.views.playbooks.start_playbook); saving,
pinning, deleting and probing are servers.services, servers.checks and servers.probe.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from automation.models import JobTemplate
from jobs.models import ACTIVE_STATUSES, JobStatus
from jobs.runners.playbook.catalog import password_only
from jobs.services import JobInputError, PolicyDenied, create_remote_exec_job
from servers import checks, probe, services
from servers.models import Server
from servers.permissions import Action, check, may, usable_servers
from servers.ssh import SshError
from web.decorators import permission_required
from web.forms.jobs import RunCommandForm
from web.forms.playbooks import RunPlaybookForm
from web.forms.servers import RepinForm
from web.views.playbooks import start_playbook
from web.views.reachability import attach_reachability
from web.views.server_form import server_form
from web.views.shared import filtered_jobs, job_started, servers_with_activity

SERVER_RECENT = 20
PLAYBOOK_PREFIX = "pb"  # the server page holds two forms that both have a `timeout`


@permission_required(Action.VIEW)
def server_list(request):
    context = {"servers": attach_reachability(servers_with_activity(request.user)), "nav": "servers"}
    return render(request, "servers/list.html", context)


@permission_required(Action.VIEW)
def server_detail(request, name: str):
    # A server the user may not use answers like an unknown one: its name cannot be probed.
    server = get_object_or_404(usable_servers(request.user, Server.objects.select_related("credential")), name=name)
    posted = request.method == "POST"
    playbook_posted = posted and request.POST.get("form") == "playbook"
    form = RunCommandForm(request.POST if posted and not playbook_posted else None)
    playbook_form = RunPlaybookForm(
        request.POST if playbook_posted else None,
        prefix=PLAYBOOK_PREFIX,
        initial={"playbook": request.GET.get("playbook", "")},
    )
    status = 200
    if playbook_posted:
        if response := start_playbook(request, playbook_form, server=server):
            return response
        status = 400
    elif posted:
        check(request.user, Action.RUN, server=server)
        if form.is_valid():
            try:
                job = create_remote_exec_job(server=server, created_by=request.user, via="web", **form.cleaned_data)
            except (JobInputError, PolicyDenied) as exc:  # a policy's refusal names its rule
                form.add_error(None, str(exc))
            else:
                return job_started(request, job)
        status = 400
    context = {
        "nav": "servers",
        "server": server,
        "form": form,
        "playbook_form": playbook_form,
        "playbook_password_only": password_only(server),
        "recent_jobs": filtered_jobs(request.user, server=server.name)[:SERVER_RECENT],
        "recent_max": SERVER_RECENT,
        "can_run": may(request.user, Action.RUN, server=server),
        "reach": attach_reachability([server])[0].reach,
    }
    return render(request, "servers/detail.html", context, status=status)


@permission_required(Action.RUN)
@require_POST
def server_test(request, name: str):
    """The server page's "Test connection": log in with what is stored and run `true`; the
    outcome is recorded (the pages' "reached" / "unreachable since")."""
    server = get_object_or_404(usable_servers(request.user, Server.objects.select_related("credential")), name=name)
    check(request.user, Action.RUN, server=server)
    ok, message = checks.check_saved_server(server=server, actor=request.user, via="web")
    if ok:
        messages.success(request, f"Test connection: {message}")
    else:
        messages.error(request, f"Test connection to {server.name} failed: {message}")
    return redirect(reverse("jobs:server", args=[server.name]))


# ---- add / edit / re-pin (the "manage servers" permission) ----------------------------------
def _server_or_404(request, name: str) -> Server:
    server = get_object_or_404(usable_servers(request.user, Server.objects.select_related("credential")), name=name)
    check(request.user, Action.MANAGE_SERVERS, server=server)
    return server


@permission_required(Action.MANAGE_SERVERS)
@require_http_methods(["GET", "POST"])
def add(request):
    return server_form(request, server=None)


@permission_required(Action.MANAGE_SERVERS)
@require_http_methods(["GET", "POST"])
def edit(request, name: str):
    return server_form(request, server=_server_or_404(request, name))


@permission_required(Action.MANAGE_SERVERS)
@require_http_methods(["GET", "POST"])
def delete(request, name: str):
    """Delete a server, after a page saying what happens to its jobs, templates and credential
    (a POST without `confirm=yes` answers with that page)."""
    server = _server_or_404(request, name)
    context = {"nav": "servers", "server": server, **_deletion_impact(server)}
    if request.method != "POST" or request.POST.get("confirm") != "yes":
        return render(request, "servers/confirm_delete.html", context)
    try:
        services.delete_server(server=server, actor=request.user, via="web")
    except services.ServerInputError as exc:
        return render(request, "servers/confirm_delete.html", {**context, "problem": str(exc)}, status=409)
    jobs = context["jobs"]
    logs = pluralize(jobs, "its log,their logs")
    kept = f" Its {jobs} job{pluralize(jobs)} and {logs} stay, without a server." if jobs else ""
    messages.success(request, f"Deleted server {name}.{kept}")
    return redirect(reverse("jobs:servers"))


def _deletion_impact(server: Server) -> dict:
    templates = list(JobTemplate.objects.filter(servers=server).order_by("name").values_list("name", flat=True))
    credential = server.credential
    shared = credential is not None and Server.objects.filter(credential=credential).exclude(pk=server.pk).exists()
    return {
        **services.deletion_impact(server=server),
        "active": server.all_jobs.filter(status__in=[*ACTIVE_STATUSES, JobStatus.AWAITING_APPROVAL]).count(),
        "templates": templates,
        "credential": credential,
        "credential_shared": shared,
    }


@permission_required(Action.MANAGE_SERVERS)
@require_http_methods(["GET", "POST"])
def repin(request, name: str):
    server = _server_or_404(request, name)
    context = {"nav": "servers", "server": server}
    try:
        seen = probe.probe_host(host=server.host, port=server.port, username=server.username, name=server.name)
    except SshError as exc:
        return render(request, "servers/repin.html", {**context, "probe_error": str(exc)})
    context.update(seen=seen, key_type=seen.public_key.split(None, 1)[0])
    context["same"] = seen.fingerprint in services.fingerprints_of(server.host_key)
    if request.method != "POST":
        initial = {"old_fingerprint": server.host_key_fingerprint, "new_fingerprint": seen.fingerprint}
        return render(request, "servers/repin.html", {**context, "form": RepinForm(initial=initial)})
    form = RepinForm(request.POST)
    form.is_valid()
    confirmed = form.cleaned_data.get("new_fingerprint")
    if confirmed != seen.fingerprint:
        problem = (
            f"The host now presents {seen.fingerprint}, not the key you confirmed ({confirmed or 'none'}). "
            "Nothing was changed: compare the fingerprints again."
        )
        return _repin_refused(request, context, problem)
    try:
        changed = services.repin_host_key(
            server=server,
            seen=seen,
            old_fingerprint=form.cleaned_data.get("old_fingerprint", ""),
            actor=request.user,
            via="web",
        )
    except (services.ServerInputError, SshError) as exc:
        return _repin_refused(request, context, str(exc))
    if changed:
        messages.success(request, f"Pinned the new host key of {server.name}: {seen.fingerprint}.")
    else:
        messages.info(request, f"{server.name} presents the pinned key already; nothing was changed.")
    return redirect(reverse("jobs:server", args=[server.name]))


def _repin_refused(request, context: dict, problem: str):
    server = Server.objects.get(pk=context["server"].pk)
    initial = {"old_fingerprint": server.host_key_fingerprint, "new_fingerprint": context["seen"].fingerprint}
    context.update(server=server, problem=problem, form=RepinForm(initial=initial))
    return render(request, "servers/repin.html", context, status=409)
