"""Show one job: status, progress, exit code, times, line count, error and its last lines."""

from __future__ import annotations

import json
from datetime import UTC

from django.core.serializers.json import DjangoJSONEncoder

from jobs.log import logfile
from jobs.log.reader import MAX_TAIL, compact_line, recent_lines
from jobs.management import helpers
from jobs.models import Job

DEFAULT_TAIL = 10


class Command(helpers.JobCommand):
    help = "Show a job's status, exit code, times and its last lines (--json for scripts)."

    def add_arguments(self, parser):
        parser.add_argument("job_id", metavar="JOB_ID")
        parser.add_argument("--tail", metavar="N", help=f"how many of the last lines to show (default {DEFAULT_TAIL})")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print one JSON object")

    def handle(self, *args, job_id, tail, as_json, **options):
        count = helpers.parse_count(tail, option="--tail", minimum=0, maximum=MAX_TAIL)
        count = DEFAULT_TAIL if count is None else count
        job = helpers.get_job(job_id)
        lines = list(reversed(recent_lines(job=job, limit=count))) if count else []
        if as_json:
            self.stdout.write(json.dumps(job_data(job, lines), cls=DjangoJSONEncoder, indent=2))
            return
        self.stdout.write(self._describe(job))
        if lines:
            self.stdout.write(f"Last {len(lines)} line(s):")
            self.stdout.write("".join(logfile.format_row(r) for r in lines), ending="")
        elif job.logs_expired_at and count:
            self.stdout.write("(its lines were deleted by the retention policy)")

    def _describe(self, job: Job) -> str:
        rows = [("Job", f"{job.job_id} ({job.get_job_type_display()})")]
        names = [s.name for s in job.servers.all()] or ([job.server.name] if job.server_id else [])
        rows.append(("Server" if len(names) <= 1 else "Servers", ", ".join(names) or "(deleted)"))
        if job.command:
            rows.append(("Command", job.command))
        elif job.params.get("playbook"):
            rows.append(("Playbook", str(job.params["playbook"])))
        status = job.status + (f", exit code {job.exit_code}" if job.exit_code is not None else "")
        if job.cancel_requested_at and not job.is_final:
            status += f" (cancel requested by {job.cancel_requested_by or 'someone'})"
        rows.append(("Status", status))
        rows.append(("Progress", f"{job.progress}%" + (f" - {job.current_step}" if job.current_step else "")))
        by = f" by {job.created_by.get_username()}" if job.created_by_id else ""
        rows.append(("Created", _when(job.created_at) + by))
        if job.started_at:
            rows.append(("Started", _when(job.started_at)))
        if job.finished_at:
            took = f" (took {_duration(job.finished_at - job.started_at)})" if job.started_at else ""
            rows.append(("Finished", _when(job.finished_at) + took))
        elif job.heartbeat_at and not job.is_final:
            rows.append(("Heartbeat", _when(job.heartbeat_at)))
        lines = f"{job.line_count}"
        if job.logs_expired_at:
            lines += f" (deleted on {_when(job.logs_expired_at)}, older than the retention period)"
        rows.append(("Lines", lines))
        if job.error:
            rows.append(("Error", job.error))
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def job_data(job: Job, lines: list[dict]) -> dict:
    return {
        "job_id": job.job_id,
        "job_type": job.job_type,
        "status": job.status,
        "final": job.is_final,
        "progress": job.progress,
        "current_step": job.current_step,
        "exit_code": job.exit_code,
        "error": job.error,
        "server": job.server.name if job.server_id else None,
        "servers": [s.name for s in job.servers.all()],
        "params": job.params,
        "timeout": job.timeout,
        "created_by": job.created_by.get_username() if job.created_by_id else None,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "heartbeat_at": job.heartbeat_at,
        "cancel_requested_at": job.cancel_requested_at,
        "cancel_requested_by": job.cancel_requested_by,
        "line_count": job.line_count,
        "last_seq": job.last_seq,
        "logs_expired_at": job.logs_expired_at,
        "result": job.result,
        "lines": [compact_line(r) for r in lines],
    }


def _when(dt) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(delta) -> str:
    seconds = delta.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"
