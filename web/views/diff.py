"""The /jobs/<id>/diff/ page: what changed between this run and another (?against=<job_id>), or
the previous run of the same template, command or playbook (jobs/log/diff.py)."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from jobs.log import diff
from jobs.models import Job
from servers.permissions import Action, check, visible_jobs
from web.decorators import permission_required


def _visible(request, job_id: str) -> Job:
    job = visible_jobs(request.user, Job.objects.all()).filter(job_id=job_id).first()
    if job is None:
        raise Http404(f"No job with id {job_id!r}.")
    return job


@permission_required(Action.VIEW)
def job_diff_page(request, job_id: str):
    job = _visible(request, job_id)
    check(request.user, Action.VIEW, job=job)
    against = (request.GET.get("against") or "previous")[:100]
    cursor = request.GET.get("cursor") or None
    try:
        other = diff.previous_run(job) if against == "previous" else _visible(request, against)
        data = diff.diff_jobs(job=job, against=other, cursor=cursor)
    except diff.NoPrevious as exc:
        return render(request, "diff/page.html", {"job": job, "problem": str(exc)}, status=404)
    except diff.DiffInputError as exc:
        return render(request, "diff/page.html", {"job": job, "problem": str(exc)}, status=400)
    hunks = _with_gaps(data["hunks"], first_page=cursor is None)
    context = {"job": job, "other": other, "data": data, "hunks": hunks, "against": against, "nav": "jobs"}
    return render(request, "diff/page.html", context)


def _with_gaps(hunks: list[dict], *, first_page: bool) -> list[dict]:
    """Each hunk with the count of unchanged lines before it (folded on the page), for a run on
    one server (seqs then count its lines; a many-server run interleaves its hosts' seqs)."""
    out, next_seq = [], 1 if first_page else None
    for hunk in hunks:
        start = hunk["added"]["from_seq"] or hunk["after_seq"]["job"] + 1
        gap = max(0, start - next_seq) if next_seq is not None and not hunk.get("host") else 0
        out.append({**hunk, "unchanged_before": gap})
        next_seq = start + hunk["added"]["count"]
    return out
