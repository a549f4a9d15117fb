"""Cancel a pending or running job."""

from __future__ import annotations

from django.core.management.base import CommandError

from jobs.management import helpers
from jobs.models import JobStatus
from jobs.services import JobInputError, request_cancel


class Command(helpers.JobCommand):
    help = "Cancel a job: a pending one ends now; a running one is stopped by its worker (remote process included)."

    def add_arguments(self, parser):
        parser.add_argument("job_id", metavar="JOB_ID")

    def handle(self, *args, job_id, **options):
        job = helpers.get_job(job_id)
        try:
            job = request_cancel(job=job, requested_by=f"cli:{helpers.os_user()}", via="cli")
        except JobInputError as exc:
            raise CommandError(str(exc)) from None
        if job.status == JobStatus.CANCELLED:
            self.stdout.write(f"Job {job.job_id} cancelled.")
        elif job.is_final:
            self.stdout.write(f"Job {job.job_id} finished ({job.status}) before the cancel took effect.")
        else:
            self.stdout.write(
                f"Cancel requested for job {job.job_id} ({job.status}): its worker stops the remote process and "
                f"marks the job cancelled. Watch it with `manage.py job_status {job.job_id}`."
            )
