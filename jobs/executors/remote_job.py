"""The remote_exec job: connect (pinning the host key on first contact), stream, report."""

from __future__ import annotations

from asgiref.sync import sync_to_async

from jobs.executors.remote import Outcome, stream_command
from jobs.models import Job
from jobs.sink import JobSink
from servers import ssh
from servers.services import pin_host_key, target_for


async def run(*, job: Job, sink: JobSink) -> Outcome:
    server = job.server
    if server is None:
        return Outcome(status="failed", error="The job's server was deleted.")
    target = await sync_to_async(target_for, thread_sensitive=False)(server)
    try:
        conn, seen = await ssh.connect(target)
    except ssh.SshError as exc:
        return Outcome(status="failed", error=str(exc))
    if seen is not None:
        await sync_to_async(pin_host_key, thread_sensitive=False)(server_id=server.pk, seen=seen)
    command = job.params.get("command", "")
    sink.write(f"$ {command}", level="INFO", stream="system")
    async with conn:
        return await stream_command(
            conn,
            command=command,
            working_dir=job.params.get("working_dir", ""),
            timeout=job.timeout,
            on_lines=sink.write_lines,
            cancel_check=_cancel_check(job.pk),
        )


def _cancel_check(job_pk: int):
    def read() -> str | None:
        row = Job.objects.filter(pk=job_pk).values_list("cancel_requested_at", "cancel_requested_by").first()
        if row is None:
            return "deletion of the job"
        return (row[1] or "someone") if row[0] else None

    return sync_to_async(read, thread_sensitive=False)
