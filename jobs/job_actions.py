"""The job page's own actions and facts: "Re-run" (a POST, then the new job's live page), the
links between a job and its re-runs, and the count of problem lines shown in its header.

Page views stay thin: re-running is jobs.rerun.rerun_job, counting is jobs.log.reader.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from accounts.decorators import permission_required
from accounts.permissions import Action, check, may, visible_jobs
from jobs.log.reader import count_problems
from jobs.models import Job
from jobs.rerun import RERUN_OF, rerun_job
from jobs.services import JobInputError

MAX_RERUNS_LISTED = 20


@require_POST
@permission_required(Action.RUN)
def rerun(request, job_id: str):
    """Run the job again (same servers, parameters, timeout) and open the new job's page."""
    job = get_object_or_404(Job.objects.select_related("server"), job_id=job_id)
    check(request.user, Action.VIEW, job=job)
    check(request.user, Action.RUN, job=job)
    try:
        new = rerun_job(job=job, created_by=request.user, via="web")
    except JobInputError as exc:
        messages.error(request, str(exc))
        return redirect("jobs:detail", job_id=job.job_id)
    return redirect("jobs:detail", job_id=new.job_id)


def job_page_context(job: Job, user, *, boot: dict) -> dict:
    """What the job page shows besides the viewer: the job it re-runs, its own re-runs (only
    those `user` may see), whether `user` may re-run it. Adds the problem count (lines up to
    the boot's last seq: the viewer counts the later ones as they arrive) to `boot`."""
    boot["problems"] = count_problems(job=job, up_to=boot.get("last_seq") or 0)
    original_id = job.params.get(RERUN_OF, "") if isinstance(job.params, dict) else ""
    original = None
    if original_id:
        original = visible_jobs(user, Job.objects.filter(job_id=original_id)).first()
    reruns = visible_jobs(user, Job.objects.filter(params__rerun_of=job.job_id)).order_by("created_at")
    return {
        "rerun_of_id": original_id,
        "rerun_of": original,
        "reruns": list(reruns[:MAX_RERUNS_LISTED]),
        "can_rerun": may(user, Action.RUN, job=job),
    }
