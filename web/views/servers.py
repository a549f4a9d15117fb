"""The server pages. Reading and running: the list (`/servers/`) and the server page
(`/servers/<name>/`: its pinned key, "run a command", "run a playbook", recent jobs). Changing:
add (`/servers/add/`), edit with "Test connection" (`/servers/<name>/edit/`) and re-pin the
host key (`/servers/<name>/repin/`), each needing the "manage servers" permission.

Starting a job is jobs.services (a playbook: web.views.playbooks.start_playbook); saving,
pinning and probing are servers.services and servers.probe.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from jobs.runners.playbook.catalog import password_only
from jobs.services import JobInputError, PolicyDenied, create_remote_exec_job
from servers import probe, services
from servers.models import Server
from servers.permissions import Action, NotPermitted, check, may, usable_servers
from servers.ssh import SshError
from web.decorators import permission_required
from web.forms.jobs import RunCommandForm
from web.forms.playbooks import RunPlaybookForm
from web.forms.servers import RepinForm, ServerForm
from web.views.playbooks import start_playbook
from web.views.shared import filtered_jobs, job_started, servers_with_activity

SERVER_RECENT = 20
PLAYBOOK_PREFIX = "pb"  # the server page holds two forms that both have a `timeout`


@permission_required(Action.VIEW)
def server_list(request):
    context = {"servers": servers_with_activity(request.user), "nav": "servers"}
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
    }
    return render(request, "servers/detail.html", context, status=status)


# ---- add / edit / re-pin (the "manage servers" permission) ----------------------------------
def _server_or_404(request, name: str) -> Server:
    server = get_object_or_404(usable_servers(request.user, Server.objects.select_related("credential")), name=name)
    check(request.user, Action.MANAGE_SERVERS, server=server)
    return server


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@permission_required(Action.MANAGE_SERVERS)
@require_http_methods(["GET", "POST"])
def add(request):
    return _server_form(request, server=None)


@permission_required(Action.MANAGE_SERVERS)
@require_http_methods(["GET", "POST"])
def edit(request, name: str):
    return _server_form(request, server=_server_or_404(request, name))


def _server_form(request, *, server: Server | None):
    if request.method != "POST":
        return _render_form(request, ServerForm(server=server), server=server)
    testing = request.POST.get("action") == "test"
    form = ServerForm(request.POST, request.FILES, server=server, testing=testing)
    if testing:
        return _test_connection(request, form, server=server)
    if not form.is_valid():
        return _render_form(request, form, server=server, status=400)
    try:
        saved = _save(request, form, server=server)
    except services.ServerInputError as exc:
        form.add_error(None, str(exc))
        return _render_form(request, form, server=server, status=400)
    except NotPermitted as exc:  # e.g. moving a server whose stored secrets may not follow
        form.add_error(None, str(exc))
        return _render_form(request, form, server=server, status=403)
    except SshError as exc:  # the pin lost a race (moved or re-pinned meanwhile)
        form.add_error(None, str(exc))
        return _render_form(request, form, server=server, status=409)
    verb = "Added" if server is None else "Saved"
    pinned = f" Host key {saved.host_key_fingerprint} pinned." if saved.host_key else ""
    if not saved.host_key:
        pinned = " Its host key will be pinned on the first connection."
    messages.success(request, f"{verb} server {saved.name}.{pinned}")
    return redirect(reverse("jobs:server", args=[saved.name]))


def _save(request, form: ServerForm, *, server: Server | None) -> Server:
    data = form.cleaned_data
    pin = data["pin"]
    fields = {**form.server_fields(), **form.secrets(), "actor": request.user, "via": "web"}
    if pin is not None:
        fields["host_key_fingerprint"] = pin[1]  # the first contact must present this key, whatever happens next
    if server is None:
        saved = services.create_server(name=data["name"], **fields)
    else:
        saved = services.update_server(server=server, **fields)
    if pin is not None:
        services.pin_confirmed_key(server=saved, public_key=pin[0], fingerprint=pin[1])
        saved.refresh_from_db()
    return saved


def _test_connection(request, form: ServerForm, *, server: Server | None):
    as_json = _wants_json(request)
    if not form.is_valid():
        if as_json:
            errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
            first = next(iter(errors.values()))[0]
            return JsonResponse({"ok": False, "error": first, "errors": errors}, status=400)
        return _render_form(request, form, server=server, status=400)
    data = form.cleaned_data
    try:
        report = probe.test_connection(
            actor=request.user,
            server=server,
            host=data["host"],
            port=data["port"],
            username=data["username"],
            typed=form.secrets(),
            name=data.get("name") or "",
            confirmed_fingerprint=data.get("host_key_fingerprint", "") if data.get("confirm_fingerprint") else "",
        )
    except NotPermitted as exc:
        if as_json:
            return JsonResponse({"ok": False, "error": str(exc)}, status=403)
        return _render_form(request, form, server=server, test_error=str(exc), status=403)
    except SshError as exc:
        if as_json:
            return JsonResponse({"ok": False, "error": str(exc)})
        return _render_form(request, form, server=server, test_error=str(exc))
    if as_json:
        return JsonResponse(report.as_json())
    return _render_form(request, _retested(form, report), server=server, report=report)


def _retested(form: ServerForm, report: probe.ConnectionReport) -> ServerForm:
    """The form again, holding the key just seen; confirmation stays only for that same key.
    Secrets are not sent back: the page asks for them again."""
    data = form.data.copy()
    confirmed = data.get("host_key_fingerprint") == report.fingerprint and data.get("confirm_fingerprint")
    data.update({"host_key": report.public_key, "host_key_fingerprint": report.fingerprint})
    data["probed_address"] = report.address
    for key in ("private_key", "passphrase", "password"):
        data[key] = ""
    if not confirmed:
        data.pop("confirm_fingerprint", None)
    return ServerForm(data, server=form.server, testing=True)


def _render_form(request, form: ServerForm, *, server: Server | None, status: int = 200, **extra):
    context = {
        "nav": "servers",
        "form": form,
        "server": server,
        "needs_pin_choice": server is None or not server.host_key,
        "secrets_asked_again": "report" in extra or "test_error" in extra,
        **extra,
    }
    return render(request, "servers/form.html", context, status=status)


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
