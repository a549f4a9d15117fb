"""Approve a job a policy holds for approval."""

from __future__ import annotations

from jobs.management.commands._decision import DecisionCommand


class Command(DecisionCommand):
    help = (
        "Approve JOB_ID, a job a policy holds (status awaiting_approval). The last approval its rule needs makes "
        "it pending and hands it to a worker. Prints the job's new status; exits with 1 and the reason when the "
        "approval is refused (not an approver, the one who asked), the job is not waiting or does not exist."
    )
    approve = True
    comment_help = "why (optional; kept with the approval)"
