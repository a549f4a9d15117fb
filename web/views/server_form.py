"""The "Add server" and "Edit server" form (web/views/servers.py routes to it): save, "Test
connection" (JSON for the page's script, or a plain post) and "Save anyway".

Saving tries the login first (servers.checks.check_before_save); when that fails nothing is
saved until the person presses "Save anyway": what they sent waits in their session (secrets
encrypted with the credential key, never put back into the page), and the server then reads
"not logged in yet" until a job or a test logs in (web/views/reachability.py). A save whose
login test passed is recorded as a contact, so the server reads "reached".
"""

from __future__ import annotations

import json
import secrets

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from servers import checks, crypto, probe, services
from servers.models import Server
from servers.permissions import NotPermitted
from servers.ssh import SshError
from web.forms.servers import ServerForm

SAVE_ANYWAY = "save_anyway"
PENDING_SAVE = "servers.pending_save"  # the session key of a save that waits for "Save anyway"
SERVER_FORM_FIELDS = ("host", "port", "username", "description", "max_concurrent_jobs", "tags")


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def server_form(request, *, server: Server | None):
    """The "Add server" (server None) and "Edit server" pages: GET, save, test, save anyway."""
    if request.method != "POST":
        return _render_form(request, ServerForm(server=server), server=server)
    action = request.POST.get("action")
    if action == SAVE_ANYWAY:
        return _save_anyway(request, server=server)
    testing = action == "test"
    form = ServerForm(request.POST, request.FILES, server=server, testing=testing)
    if testing:
        return _test_connection(request, form, server=server)
    if not form.is_valid():
        return _render_form(request, form, server=server, status=400)
    data = form.cleaned_data
    try:
        tried = _check_before_save(request, form, server=server)
    except NotPermitted as exc:
        form.add_error(None, str(exc))
        return _render_form(request, form, server=server, status=403)
    if tried.failed:
        # Saved only on an explicit "Save anyway": what was sent waits in the session (secrets
        # encrypted), so the person need not type the key again to confirm.
        pending = _stash(request, form, server=server, problem=tried.problem)
        if tried.field:
            form.add_error(tried.field, tried.problem)
        form.data = form.data.copy()  # secrets are not sent back: "Save anyway" uses the stashed ones
        for key in ("private_key", "passphrase", "password"):
            form.data[key] = ""
        return _render_form(request, form, server=server, save_problem=tried.problem, pending=pending, status=400)
    pin = list(data["pin"]) if data["pin"] is not None else None
    return _save_and_go(request, form, server=server, pin=pin, logged_in=bool(tried.logged_in))


def _check_before_save(request, form: ServerForm, *, server: Server | None) -> checks.LoginCheck:
    """Try the login before saving (an address, user or secret that is new); an edit that
    changes none of them saves at once."""
    data, typed = form.cleaned_data, {k: v for k, v in form.secrets().items() if v}
    address = (data["host"], data["port"], data["username"])
    if server is not None and not typed and address == (server.host, server.port, server.username):
        return checks.LoginCheck(None)
    pin = data["pin"]
    return checks.check_before_save(
        actor=request.user,
        server=server,
        name=data.get("name") or (server.name if server else ""),
        host=data["host"],
        port=data["port"],
        username=data["username"],
        typed=typed,
        confirmed_fingerprint=pin[1] if pin is not None else "",
    )


def _stash(request, form: ServerForm, *, server: Server | None, problem: str) -> str:
    data = form.cleaned_data
    payload = {
        "name": data.get("name") or (server.name if server else ""),
        "server": server.pk if server is not None else None,
        "fields": form.server_fields(),
        "secrets": {k: v for k, v in form.secrets().items() if v is not None},
        "pin": list(data["pin"]) if data["pin"] is not None else None,
        "problem": problem,
    }
    token = secrets.token_urlsafe(18)
    request.session[PENDING_SAVE] = {"token": token, "payload": crypto.encrypt(json.dumps(payload))}
    return token


def _save_anyway(request, *, server: Server | None):
    stashed = request.session.pop(PENDING_SAVE, None) or {}
    payload = None
    if stashed.get("token") and stashed.get("token") == request.POST.get("pending"):
        payload = json.loads(crypto.decrypt(stashed["payload"]))
    if payload is None or payload["server"] != (server.pk if server is not None else None):
        form = ServerForm(server=server)
        form.cleaned_data = {}  # an unbound form takes an error once it has (empty) cleaned data
        form.add_error(
            None, "Nothing is waiting to be saved (saved already, or the page is old): fill in the form again."
        )
        return _render_form(request, form, server=server, status=400)
    form = ServerForm(server=server, initial={**payload["fields"], "name": payload["name"]})
    form.cleaned_data = {"name": payload["name"], "pin": payload["pin"], **payload["fields"], **payload["secrets"]}
    return _save_and_go(request, form, server=server, pin=payload["pin"], logged_in=False, problem=payload["problem"])


def _save_and_go(
    request, form: ServerForm, *, server: Server | None, pin: list | None, logged_in: bool, problem: str = ""
):
    data = form.cleaned_data
    name = data.get("name") or (server.name if server else "")
    secrets_given = {k: data.get(k) or None for k in ("private_key", "passphrase", "password")}
    fields = {k: data[k] for k in SERVER_FORM_FIELDS}
    try:
        saved = _save(request, name=name, fields=fields, secrets_given=secrets_given, pin=pin, server=server)
    except services.ServerInputError as exc:
        form.add_error(None, str(exc))
        return _render_form(request, form, server=server, status=400)
    except NotPermitted as exc:  # e.g. moving a server whose stored secrets may not follow
        form.add_error(None, str(exc))
        return _render_form(request, form, server=server, status=403)
    except SshError as exc:  # the pin lost a race (moved or re-pinned meanwhile)
        form.add_error(None, str(exc))
        return _render_form(request, form, server=server, status=409)
    if logged_in:
        services.record_contact(server_name=saved.name, logged_in=True, actor=request.user, via="web")
    verb = "Added" if server is None else "Saved"
    pinned = f" Host key {saved.host_key_fingerprint} pinned." if saved.host_key else ""
    if not saved.host_key:
        pinned = " Its host key will be pinned on the first connection."
    if problem:
        messages.warning(
            request,
            f"{verb} server {saved.name} although its connection test failed ({problem}).{pinned} "
            "It shows as not logged in yet until a job or a test logs in.",
        )
    else:
        messages.success(request, f"{verb} server {saved.name}.{pinned}")
    return redirect(reverse("jobs:server", args=[saved.name]))


def _save(request, *, name: str, fields: dict, secrets_given: dict, pin: list | None, server: Server | None) -> Server:
    fields = {**fields, **secrets_given, "actor": request.user, "via": "web"}
    if pin is not None:
        fields["host_key_fingerprint"] = pin[1]  # the first contact must present this key, whatever happens next
    if server is None:
        saved = services.create_server(name=name, **fields)
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
        problem = checks.worded_error(str(exc), host=data["host"])
        unknown_host = problem == checks.unknown_host_message(data["host"])
        if as_json:
            answer = {"ok": False, "error": problem}
            if unknown_host:
                answer["errors"] = {"host": [problem]}  # said under the host field
            return JsonResponse(answer)
        if unknown_host:
            form.add_error("host", problem)
        return _render_form(request, form, server=server, test_error=problem)
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
        "secrets_asked_again": bool({"report", "test_error", "save_problem"} & set(extra)),
        **extra,
    }
    return render(request, "servers/form.html", context, status=status)
