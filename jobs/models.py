from functools import partial

from django.conf import settings
from django.db import models

from core.fields import RowIdField
from servers.models import Server


class JobType(models.TextChoices):
    REMOTE_EXEC = "remote_exec", "Remote command"
    PLAYBOOK = "playbook", "Ansible playbook"


class JobStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    AWAITING_APPROVAL = "awaiting_approval"  # a policy asks a person first (jobs/policy.py); holds no slot
    REJECTED = "rejected"  # refused or expired before it ran: it never ran


FINAL_STATUSES = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.TIMED_OUT, JobStatus.REJECTED}
)
ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)


class Job(models.Model):
    job_id = models.CharField(max_length=64, unique=True)
    job_type = models.CharField(max_length=32, choices=JobType.choices)
    params = models.JSONField(default=dict, blank=True)
    server = models.ForeignKey(Server, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    servers = models.ManyToManyField(Server, blank=True, related_name="all_jobs")
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    current_step = models.CharField(max_length=255, blank=True, default="")
    exit_code = models.IntegerField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    timeout = models.PositiveIntegerField(default=300)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_by = models.CharField(max_length=150, blank=True, default="")
    # Set once at creation from jobs/log/logfile.path_for (the one rule for the path), so a
    # person reading the row (admin, SQL) sees where the file is; code asks logfile.path_for.
    log_file = models.CharField(max_length=500, blank=True, default="")
    line_count = models.PositiveBigIntegerField(default=0)
    last_seq = models.PositiveBigIntegerField(default=0)
    logs_expired_at = models.DateTimeField(null=True, blank=True)
    # An inline exec is a job too (the audit trail), run by the request and awaited.
    inline = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("run_job", "Can run commands and playbooks"), ("cancel_job", "Can cancel jobs")]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["job_type", "created_at"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return self.job_id

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def command(self) -> str:
        return self.params.get("command", "") if isinstance(self.params, dict) else ""


class Level(models.TextChoices):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


LEVEL_ORDER = [Level.DEBUG, Level.INFO, Level.WARNING, Level.ERROR, Level.CRITICAL]


class Stream(models.TextChoices):
    STDOUT = "stdout"
    STDERR = "stderr"
    SYSTEM = "system"


IMPORTANT_LEVELS = ["WARNING", "ERROR", "CRITICAL"]
NOT_STDOUT = ["stderr", "system"]


class JobLogLine(models.Model):
    """One output line. Written only by jobs/log/sink.py, in batches; (job, seq) is the cursor."""

    id = RowIdField(primary_key=True)  # no AUTOINCREMENT on SQLite (core/fields.py)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="lines", db_index=False)
    seq = models.PositiveBigIntegerField()
    ts = models.DateTimeField()
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    stream = models.CharField(max_length=8, choices=Stream.choices, default=Stream.STDOUT)
    message = models.TextField()
    # Defaults in the database too: the sink leaves these out of an untagged line's INSERT
    # (binding three empty strings a row cost SQLite ingest about a seventh; issue 22).
    host = models.CharField(max_length=255, blank=True, default="", db_default="")
    task = models.CharField(max_length=255, blank=True, default="", db_default="")
    event = models.CharField(max_length=64, blank=True, default="", db_default="")

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="joblogline_job_seq_uniq")]
        # Level/stream filters use JobLogMark (below), not partial indexes: SQLite evaluates
        # a partial index's condition on every insert, which halved ingest.

    def __str__(self) -> str:
        return f"{self.job_id}#{self.seq}"


class JobLogMark(models.Model):
    """An index entry for the rare lines people filter for: level WARNING+ or stream
    stderr/system. Written by the sink beside the lines (one extra row only for those), it
    turns `level=ERROR` or `stream=stderr` on a million-line job into an index lookup.
    A partial index would do the same, but SQLite evaluates its condition on every insert."""

    id = RowIdField(primary_key=True)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="marks", db_index=False)
    seq = models.PositiveBigIntegerField()
    level = models.CharField(max_length=8)
    stream = models.CharField(max_length=8)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="joblogmark_job_seq_uniq")]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.seq} {self.level} {self.stream}"


# The Job columns a viewer's status is made of (read with `.values(*STATUS_FIELDS)`).
STATUS_FIELDS = (
    "status",
    "progress",
    "current_step",
    "exit_code",
    "error",
    "line_count",
    "last_seq",
    "logs_expired_at",
    "started_at",
    "finished_at",
)
_TIME_FIELDS = ("started_at", "finished_at")


def status_payload(state: Job | dict) -> dict:
    """A job's status as every viewer gets it: the job page's boot data, the websocket
    `status` messages (job page and dashboard) and the channel-layer notification.
    From a Job or from a `.values(*STATUS_FIELDS)` row."""
    get = state.get if isinstance(state, dict) else partial(getattr, state)
    payload = {k: get(k) for k in STATUS_FIELDS if k != "logs_expired_at"}
    payload["logs_expired"] = get("logs_expired_at") is not None
    for name in _TIME_FIELDS:  # JSON everywhere it goes (socket, channel layer, boot data)
        when = payload[name]
        payload[name] = when.isoformat() if when is not None else None
    return payload


# ---- guardrails: policies decide whether a job runs, waits for a person, or is refused ----------
class Decision(models.TextChoices):
    ALLOW = "allow", "Allow"
    DENY = "deny", "Deny"
    APPROVE = "approve", "Needs approval"


class Via(models.TextChoices):
    """The surfaces a job is asked for through (a policy's `via`)."""

    WEB = "web"
    API = "api"
    CLI = "cli"
    MCP = "mcp"
    SCHEDULE = "schedule"


class Policy(models.Model):
    """One rule of the ordered list jobs/policy/rules.py reads: the first that matches decides.
    Changed only through jobs/policy/edit.py (the checks live there), from every surface."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, default="")
    command_regex = models.CharField(max_length=500, blank=True, default="")
    playbook = models.CharField(max_length=255, blank=True, default="", help_text="a glob, e.g. deploy-*.yml")
    servers = models.JSONField(default=list, blank=True, help_text="server names; empty: any")
    tags = models.JSONField(default=list, blank=True, help_text="server tags; empty: any")
    groups = models.JSONField(default=list, blank=True, help_text="who asks: group names; empty: anyone")
    scopes = models.JSONField(default=list, blank=True, help_text="read, run (a token's scope) or session")
    via = models.JSONField(default=list, blank=True, help_text="web, api, cli, mcp, schedule; empty: any")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    approvers = models.CharField(max_length=150, blank=True, default="", help_text="the group that approves")
    approvals = models.PositiveSmallIntegerField(default=1)
    expires_in = models.PositiveIntegerField(default=86_400, help_text="seconds a request may wait")
    position = models.PositiveIntegerField(default=0, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return f"{self.position}. {self.name} ({self.decision})"


class ApprovalOutcome(models.TextChoices):
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class ApprovalRequest(models.Model):
    """A job waiting for people (status awaiting_approval): what the matching rule asked for,
    kept as it was when the job was asked for (the rule may change or go later)."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="approval")
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.SET_NULL, related_name="requests")
    rule_name = models.CharField(max_length=100)
    rule_description = models.TextField(blank=True, default="")
    approvers = models.CharField(max_length=150)
    approvals_needed = models.PositiveSmallIntegerField(default=1)
    via = models.CharField(max_length=16, blank=True, default="")
    requested_by_name = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=ApprovalOutcome.choices, blank=True, default="")
    decided_by_name = models.CharField(max_length=150, blank=True, default="")
    reason = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return f"approval of {self.job_id} ({self.outcome or 'open'})"


class ApprovalVote(models.Model):
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150)
    approve = models.BooleanField()
    comment = models.TextField(blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [models.UniqueConstraint(fields=["request", "user"], name="approvalvote_request_user_uniq")]

    def __str__(self) -> str:
        return f"{self.username} {'approved' if self.approve else 'rejected'} {self.request.job_id}"
