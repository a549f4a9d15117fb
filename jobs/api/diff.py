"""GET /api/jobs/<id>/diff?against=<job_id>|previous: what changed between two runs
(jobs/log/diff.py), bounded (MAX_HUNKS a page) with a cursor."""

from __future__ import annotations

from django.http import Http404
from ninja import Field, Query, Router, Schema

from core.api_errors import error_responses
from jobs import services
from jobs.api.jobs import permitted_job
from jobs.log import diff

job_diff_router = Router(tags=["jobs"])


class DiffQuery(Schema):
    against: str = Field("previous", max_length=100, description="a job id, or previous (the last run of the same)")
    cursor: str | None = Field(None, max_length=100, description="`cursor` of the previous answer")


def run_diff(*, job, against: str, cursor: str | None, find) -> dict:
    """The diff answer; `find(job_id)` gives a job the caller may see (or raises)."""
    try:
        other = diff.previous_run(job) if against == "previous" else find(against)
        return diff.diff_jobs(job=job, against=other, cursor=cursor)
    except diff.NoPrevious as exc:
        raise Http404(str(exc)) from None
    except diff.DiffInputError as exc:
        raise services.JobInputError(str(exc)) from None


@job_diff_router.get(
    "{job_id}/diff",
    response={200: dict, **error_responses(400, 404, 422)},
    summary="What changed between this run and another (or the previous one)",
    description=(
        "Lines are compared after normalising what always differs (timestamps, durations, hex ids, UUIDs, "
        "PIDs, elapsed times), host by host for many-server jobs. Answers {job_id, against, same, summary: "
        "{added, removed, unchanged}, hosts, hunk_count, hunks, cursor}; each hunk carries both sides' seqs."
    ),
)
def job_diff(request, job_id: str, params: Query[DiffQuery]):
    job = permitted_job(request, job_id)
    return run_diff(job=job, against=params.against, cursor=params.cursor, find=lambda i: permitted_job(request, i))
