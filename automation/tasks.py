"""The q2 task queued by jobs/tasks.py when a template's run ends (by its dotted path)."""

from __future__ import annotations

import logging

from django.db import close_old_connections

from automation import approvals, notify
from automation.models import TemplateRun
from automation.schedules import start_queued_runs

logger = logging.getLogger("automation.tasks")


def job_finished(job_id: str) -> str:
    close_old_connections()
    run = TemplateRun.objects.select_related("job", "template").filter(job__job_id=job_id).first()
    if run is None:
        return "no template"
    done = []
    if run.template is not None and notify.should_notify(run.notify_on, run.job.status):
        # Each channel on its own: a failing webhook never stops the email, nor the reverse.
        for name, send in (("webhook", notify.deliver_webhook), ("email", notify.send_email)):
            try:
                if send(run.job.pk):
                    done.append(name)
            except Exception:  # noqa: BLE001
                logger.exception("Notification %s of %s failed", name, job_id)
    if run.template_id is not None:
        try:
            started = start_queued_runs(template_id=run.template_id)
            if started:
                done.append(f"started {started}")
        except Exception:  # noqa: BLE001
            logger.exception("Could not start the run queued behind %s", job_id)
    return ", ".join(done) or "nothing to do"


def approval_requested(job_id: str) -> str:
    """Queued by jobs/services/asking.py when a policy holds a job: tell its approvers."""
    close_old_connections()
    return ", ".join(approvals.notify_approvers(job_id)) or "nobody to tell"
