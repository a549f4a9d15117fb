"""Job use cases: the only place a Job row is created (base.create_job, called by every
create_* below), started (enqueue_job), re-run, cancelled and finished.

    base.py      the input error, shared checks, create_job, enqueue_job, is_fleet
    exec.py      a command on one server, or on many as one job (targets by name and tag)
    playbook.py  a playbook from the catalog
    rerun.py     the same job again, or again on only its failed hosts
    control.py   final status, cancel requests, the status push to live viewers
    asking.py    a job a policy holds (jobs/policy/): its approval request, the word to approvers
    approval.py  approving, rejecting and expiring held jobs; who may decide

Callers import the names below from `jobs.services`; the modules say where each lives.
"""

from jobs.policy.rules import PolicyDenied
from jobs.services.approval import (
    ApprovalConflict,
    ApprovalInputError,
    approval_denial,
    approve_job,
    approvers_of,
    expire_approvals,
    reject_job,
    waiting_for,
)
from jobs.services.asking import AwaitingApproval, approval_info, job_url
from jobs.services.base import (
    JobInputError,
    create_job,
    enqueue_job,
    is_fleet,
    new_job_id,
    validate_command,
    validate_timeout,
    validate_working_dir,
)
from jobs.services.control import after_finish, cancel_requested_by, finish_job, notify_status, request_cancel
from jobs.services.exec import (
    DEFAULT_FORKS,
    MAX_FLEET_TARGETS,
    MAX_FORKS,
    SUCCESS_MODES,
    create_fleet_exec_job,
    create_remote_exec_job,
    resolve_targets,
    validate_forks,
)
from jobs.services.playbook import create_playbook_job
from jobs.services.rerun import RERUN_HOSTS, RERUN_OF, relaunch_failed_hosts, rerun_job

__all__ = [
    "after_finish",
    "ApprovalConflict",
    "ApprovalInputError",
    "AwaitingApproval",
    "PolicyDenied",
    "approval_denial",
    "approval_info",
    "job_url",
    "approve_job",
    "approvers_of",
    "expire_approvals",
    "reject_job",
    "waiting_for",
    "DEFAULT_FORKS",
    "MAX_FLEET_TARGETS",
    "MAX_FORKS",
    "RERUN_HOSTS",
    "RERUN_OF",
    "SUCCESS_MODES",
    "JobInputError",
    "cancel_requested_by",
    "create_fleet_exec_job",
    "create_job",
    "create_playbook_job",
    "create_remote_exec_job",
    "enqueue_job",
    "finish_job",
    "is_fleet",
    "new_job_id",
    "notify_status",
    "relaunch_failed_hosts",
    "request_cancel",
    "rerun_job",
    "resolve_targets",
    "validate_command",
    "validate_forks",
    "validate_timeout",
    "validate_working_dir",
]
