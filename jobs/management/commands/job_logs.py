"""Print a job's lines in the log-file format, filtered; --follow keeps printing new ones."""

from __future__ import annotations

from django.core.management.base import CommandError

from jobs.log.filters import parse_filter
from jobs.log.pattern_guard import LogQueryError
from jobs.log.reader import MAX_TAIL, read_lines
from jobs.management import helpers
from jobs.management.follow import follow_job
from jobs.models import LEVEL_ORDER, Job, Stream


class Command(helpers.JobCommand):
    help = (
        "Print a job's lines as `[YYYY-MM-DD HH:MM:SS] LEVEL stream: message` (all of them, or the "
        "last N with --tail). --follow keeps printing new lines until the job ends and exits "
        "with its exit code."
    )

    def add_arguments(self, parser):
        parser.add_argument("job_id", metavar="JOB_ID")
        parser.add_argument("--tail", metavar="N", help=f"only the last N matching lines (1-{MAX_TAIL})")
        parser.add_argument("--level", metavar="L", help=f"minimum level: {', '.join(LEVEL_ORDER)}")
        parser.add_argument("--stream", metavar="S", help=f"only one stream: {', '.join(Stream.values)}")
        parser.add_argument("--grep", metavar="RE", help="only lines matching this regular expression")
        parser.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until the job ends")

    def handle(self, *args, job_id, tail, level, stream, grep, follow, verbosity, **options):
        count = helpers.parse_count(tail, option="--tail", minimum=1, maximum=MAX_TAIL)
        try:
            flt = parse_filter(level=level, stream=stream, q=grep)
        except LogQueryError as exc:
            raise CommandError(_option_message(str(exc))) from None
        job = helpers.get_job(job_id)
        if job.logs_expired_at is not None:
            raise CommandError(
                f"The lines of job {job.job_id} were deleted on {job.logs_expired_at:%Y-%m-%d %H:%M} UTC "
                f"(older than the retention period); `manage.py job_status {job.job_id}` still shows the job."
            )
        printer = helpers.LogPrinter(self.stdout)
        cursor = 0
        try:
            if count is not None:
                # Lines stored after this snapshot but before the tail query are in the tail;
                # following resumes after whichever is later, so none is printed twice.
                snapshot = Job.objects.filter(pk=job.pk).values_list("last_seq", flat=True).first() or 0
                rows = read_lines(job=job, flt=flt, tail=count)
                printer(rows)
                cursor = max(snapshot, rows[-1]["seq"] if rows else 0)
                if not follow:
                    return
            end = follow_job(
                job=job,
                on_rows=printer,
                after=cursor,
                flt=flt,
                wait=follow,
                on_pending=lambda: self.stderr.write(f"Job {job.job_id} is still waiting for a worker."),
            )
        except LogQueryError as exc:
            raise CommandError(_option_message(str(exc))) from None
        except KeyboardInterrupt:
            raise helpers.CommandExit(helpers.EXIT_INTERRUPTED) from None
        if not follow:
            return
        if end.logs_expired:
            raise CommandError(f"The lines of job {job.job_id} were deleted by the retention policy meanwhile.")
        code = helpers.exit_code_for(end.status, end.exit_code)
        if code:
            message = helpers.end_message(
                job_id=end.job_id, status=end.status, exit_code=end.exit_code, error=end.error
            )
            raise helpers.CommandExit(code, message if verbosity >= 1 else "")


def _option_message(message: str) -> str:
    # The reader speaks the API's parameter names; here the options are --grep etc.
    if message.startswith("q "):
        return "--grep " + message[2:]
    if message.startswith(("level ", "stream ")):
        return "--" + message
    return message
