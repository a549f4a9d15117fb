"""Job templates (a saved command or playbook with prompts), their cron schedules, the runs
they launched and the notifications sent when those runs end.

`jobs` never imports this app: a job knows its template only through `params["template"]`
and the one hook in jobs/tasks.py, which names automation.tasks.job_finished by its dotted path.
"""

from django.conf import settings
from django.db import models

from jobs.models import Job
from servers.models import Server


class TemplateKind(models.TextChoices):
    COMMAND = "command", "Command"
    PLAYBOOK = "playbook", "Playbook"


class NotifyOn(models.TextChoices):
    NEVER = "never", "Never"
    FAILURE = "failure", "On failure"
    SUCCESS = "success", "On success"
    ALWAYS = "always", "Always"


class WebhookFormat(models.TextChoices):
    JSON = "json", "JSON (signed)"
    SLACK = "slack", "Slack-compatible"


class JobTemplate(models.Model):
    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True, default="")
    kind = models.CharField(max_length=16, choices=TemplateKind.choices, default=TemplateKind.COMMAND)
    # `{{ name }}` placeholders are replaced by the shell-quoted prompt value (automation/prompts.py).
    command = models.TextField(blank=True, default="")
    playbook = models.CharField(max_length=200, blank=True, default="")
    servers = models.ManyToManyField(Server, blank=True, related_name="templates")
    tags = models.JSONField(default=list, blank=True, help_text="Every server with one of these tags is a target.")
    timeout = models.PositiveIntegerField(null=True, blank=True)
    working_dir = models.CharField(max_length=4096, blank=True, default="")
    extra_vars = models.JSONField(default=dict, blank=True)
    prompts = models.JSONField(default=list, blank=True)
    notify_on = models.CharField(max_length=16, choices=NotifyOn.choices, default=NotifyOn.NEVER)
    webhook_url = models.URLField(max_length=2000, blank=True, default="")
    webhook_format = models.CharField(max_length=16, choices=WebhookFormat.choices, default=WebhookFormat.JSON)
    webhook_secret_enc = models.TextField(blank=True, default="")  # servers/crypto.py; never shown
    notify_emails = models.CharField(max_length=1000, blank=True, default="", help_text="Comma-separated.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_webhook_secret(self) -> bool:
        return bool(self.webhook_secret_enc)


class TemplateRun(models.Model):
    """A job launched from a template: with which values, by which schedule, notify when."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="template_run")
    template = models.ForeignKey(JobTemplate, null=True, on_delete=models.SET_NULL, related_name="runs")
    values = models.JSONField(default=dict, blank=True)
    notify_on = models.CharField(max_length=16, choices=NotifyOn.choices, default=NotifyOn.NEVER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.job_id} from {self.template_id}"


class OverlapPolicy(models.TextChoices):
    SKIP = "skip", "Skip when the previous run is still going"
    QUEUE = "queue", "Queue behind the previous run"


class TemplateSchedule(models.Model):
    template = models.ForeignKey(JobTemplate, on_delete=models.CASCADE, related_name="schedules")
    cron = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC")
    values = models.JSONField(default=dict, blank=True)
    overlap = models.CharField(max_length=8, choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP)
    enabled = models.BooleanField(default=True)
    # The django-q2 schedule that wakes us (automation/schedules.py keeps it in step).
    q_schedule_id = models.IntegerField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    # A schedule runs as its owner; one whose owner is gone or lost the right pauses itself.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    paused_reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "id"]

    def __str__(self) -> str:
        return f"{self.template.name}: {self.cron} ({self.timezone})"


class RunOutcome(models.TextChoices):
    LAUNCHED = "launched", "Launched"
    QUEUED = "queued", "Queued behind the previous run"
    SKIPPED = "skipped", "Skipped: the previous run was still going"
    FAILED = "failed", "Could not launch"


class ScheduledRun(models.Model):
    """One cron time of one schedule. Inserted before its job exists: the unique pair is what
    makes two workers unable to start the same scheduled run twice."""

    schedule = models.ForeignKey(TemplateSchedule, on_delete=models.CASCADE, related_name="runs")
    scheduled_for = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=RunOutcome.choices, default=RunOutcome.LAUNCHED)
    job = models.OneToOneField(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="scheduled_run")
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-scheduled_for", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "scheduled_for"], name="scheduledrun_once_per_cron_time")
        ]

    def __str__(self) -> str:
        return f"schedule {self.schedule_id} at {self.scheduled_for:%Y-%m-%d %H:%M:%S}"


class Channel(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    EMAIL = "email", "Email"


class DeliveryAttempt(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="notification_attempts")
    template = models.ForeignKey(JobTemplate, null=True, on_delete=models.SET_NULL, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    target = models.CharField(max_length=2000)
    attempt = models.PositiveSmallIntegerField(default=1)
    ok = models.BooleanField(default=False)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} #{self.attempt} for job {self.job_id}"
