"""Reject a job a policy holds for approval."""

from __future__ import annotations

from jobs.management.commands._decision import DecisionCommand


class Command(DecisionCommand):
    help = (
        "Reject JOB_ID, a job a policy holds (status awaiting_approval): it ends rejected and never runs. Prints "
        "the job's new status; exits with 1 and the reason when the rejection is refused (not an approver, the "
        "one who asked), the job is not waiting or does not exist."
    )
    approve = False
    comment_help = "why (optional; shown to the person who asked, as the job's error)"
