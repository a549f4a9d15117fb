"""The playbooks page (`/playbooks/`): the catalog, its folders, recent playbook jobs and "run a
playbook" on servers chosen from a list; and `start_playbook`, which the server page's own
playbook form uses too. Starting is jobs.services.create_playbook_job."""

from __future__ import annotations

from django.shortcuts import render

from jobs.models import JobType
from jobs.runners.playbook.catalog import playbook_dirs
from jobs.services import JobInputError, PolicyDenied, create_playbook_job
from servers.models import Server
from servers.permissions import Action, check, may, usable_servers
from web.decorators import permission_required
from web.forms.playbooks import PlaybookRunForm, RunPlaybookForm
from web.views.shared import job_started, jobs_for


def start_playbook(request, form: RunPlaybookForm, *, server: Server | None = None):
    """A redirect to the new job's page, or None when the form (now with its errors) is invalid.

    `server` is the server page's own server; the playbooks page's form chooses its servers."""
    check(request.user, Action.RUN)
    if form.is_valid():
        data = form.cleaned_data
        for target in [server] if server is not None else data["servers"]:
            check(request.user, Action.RUN, server=target)
        try:
            job = create_playbook_job(
                playbook=data["playbook"],
                servers=[server] if server is not None else data["servers"],
                extra_vars=data["extra_vars"],
                timeout=data["timeout"],
                check=data["check"],
                created_by=request.user,
                via="web",
            )
        except (JobInputError, PolicyDenied) as exc:  # a policy's refusal names its rule
            form.add_error(None, str(exc))
        else:
            return job_started(request, job)
    return None


@permission_required(Action.VIEW)
def playbook_list(request):
    initial = {"playbook": request.GET.get("playbook", ""), "servers": request.GET.getlist("server")}
    form = PlaybookRunForm(
        request.POST if request.method == "POST" else None, initial=initial, usable=usable_servers(request.user)
    )
    status = 200
    if request.method == "POST":
        if response := start_playbook(request, form):
            return response
        status = 400
    folders = [{"path": str(path), "source": source, "exists": path.is_dir()} for path, source in playbook_dirs()]
    context = {
        "nav": "playbooks",
        "playbooks": form.playbooks,
        "folders": folders,
        "form": form,
        "recent_jobs": jobs_for(request.user).filter(job_type=JobType.PLAYBOOK)[:20],
        "can_run": may(request.user, Action.RUN),
    }
    return render(request, "jobs/playbooks.html", context, status=status)
