"""What approve_job and reject_job share (a module Django does not list as a command: its
name starts with "_"): the options, the decision through jobs.services, the answer."""

from __future__ import annotations

from django.core.management.base import CommandError

from jobs.management import helpers
from jobs.models import ApprovalRequest, Job, JobStatus
from jobs.services import ApprovalConflict, ApprovalInputError, approve_job, reject_job
from servers.permissions import NotPermitted

AS_WHOM = (
    "decide as this LivChat user (their role, groups and servers apply; they may not decide on a job they "
    "asked for). Without it: the command line, which may decide on any job except one the command line "
    "asked for (that one needs a person: --user NAME)"
)


class DecisionCommand(helpers.JobCommand):
    approve: bool
    comment_help = "why (optional)"

    def add_arguments(self, parser):
        parser.add_argument("job_id", metavar="JOB_ID", help="a job awaiting approval (see /approvals/)")
        parser.add_argument("--comment", default="", metavar="TEXT", help=self.comment_help)
        parser.add_argument("--user", metavar="NAME", help=AS_WHOM)

    def handle(self, *args, job_id, comment, user, **options):
        job = helpers.get_job(job_id)
        person = helpers.get_user(user) if user else None
        decide = approve_job if self.approve else reject_job
        try:
            job = decide(job=job, user=person, comment=comment, via="cli")
        except (NotPermitted, ApprovalConflict, ApprovalInputError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(outcome_line(job))


def outcome_line(job: Job) -> str:
    """The job's new state in one line."""
    if job.status == JobStatus.PENDING:
        return (
            f"Job {job.job_id} approved: now pending, handed to a worker "
            f"(follow it with `manage.py job_logs {job.job_id} --follow`)."
        )
    if job.status == JobStatus.REJECTED:
        return f"Job {job.job_id} rejected; it will not run. {job.error}"
    request = ApprovalRequest.objects.get(job_id=job.pk)
    given = request.votes.filter(approve=True).count()
    return (
        f"Job {job.job_id} still {job.status}: {given} of {request.approvals_needed} approvals "
        f"(members of {request.approvers})."
    )
