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


FINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.TIMED_OUT})
ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)


class Job(models.Model):
    job_id = models.CharField(max_length=64, unique=True)
    job_type = models.CharField(max_length=32, choices=JobType.choices)
    params = models.JSONField(default=dict, blank=True)
    server = models.ForeignKey(Server, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    servers = models.ManyToManyField(Server, blank=True, related_name="all_jobs")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING)
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
