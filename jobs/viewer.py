"""What the live log viewer needs to open a job at its tail, before its socket says anything.

Both surfaces that embed the viewer call `viewer_boot`: the job page (web/views/jobs.py) and the
job's admin page (jobs/admin.py). It lives here, in the jobs app, so the admin never imports web/.
"""

from __future__ import annotations

from jobs.models import FINAL_STATUSES, Job, status_payload
from servers.permissions import Action, may


def viewer_boot(job: Job, user=None) -> dict:
    """What the log viewer needs to open at the tail before its socket says anything."""
    return {
        "job_id": job.job_id,
        **status_payload(job),
        "final": job.status in FINAL_STATUSES,
        "cancel_requested": job.cancel_requested_at is not None,
        "can_cancel": user is not None and may(user, Action.CANCEL, job=job),
    }
