"""Jobs in the admin: filters and search, a read-only detail page with the live log viewer
embedded (and, for a job a policy held, its approval request and votes), and "re-run". Log
lines are deliberately not an admin changelist (millions of rows). Policies: the ordered rules,
checked and saved by jobs.policy.edit as on every other surface.

Permissions come from servers.permissions: a user sees only the jobs they may see (none on a
server limited to groups they are not in), and re-runs only where they may run."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import truncatechars
from django.urls import path, reverse
from django.utils.html import format_html_join

from jobs.models import ApprovalRequest, Job, JobStatus, Policy, Via
from jobs.policy.edit import FIELDS, SCOPES, PolicyInputError, create_policy, delete_policy, update_policy
from jobs.policy.edit import clean as clean_policy
from jobs.services import JobInputError, rerun_job
from jobs.viewer import viewer_boot
from servers.admin import IntegerActionIdsMixin
from servers.permissions import Action, NotPermitted, denial, may, visible_jobs

MAX_RERUNS_PER_ACTION = 50
APPROVAL_FIELDS = (
    "rule_name",
    "rule_description",
    "policy",
    "approvers",
    "approvals_needed",
    "via",
    "requested_by_name",
    "created_at",
    "expires_at",
    "outcome",
    "decided_by_name",
    "decided_at",
    "reason",
    "vote_list",
)


class ApprovalRequestInline(admin.StackedInline):
    """A held job's approval request on its (read-only) page: the rule as it was, the votes."""

    model = ApprovalRequest
    fk_name = "job"
    extra = 0
    can_delete = False
    fields = APPROVAL_FIELDS
    readonly_fields = APPROVAL_FIELDS
    verbose_name = verbose_name_plural = "approval"

    @admin.display(description="votes")
    def vote_list(self, obj: ApprovalRequest):
        votes = [
            (v.username, "approved" if v.approve else "rejected", f": {v.comment}" if v.comment else "")
            for v in obj.votes.all()
        ]
        return format_html_join("\n", "<div>{} {}{}</div>", votes) or "—"

    def has_view_permission(self, request, obj=None):
        return may(request.user, Action.VIEW)  # the job's own page checked the job itself

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _rerun_refused(job: Job, exc: Exception) -> str:
    if isinstance(exc, JobInputError):  # names the job already
        return str(exc)
    # Not starting with the id: the admin capitalises a message's first letter.
    return f"Job {job.job_id}: {exc}"


def _held_note(job: Job) -> str:
    return f"Job {job.job_id} waits for approval (a policy holds it): approve it on /approvals/."


@admin.register(Job)
class JobAdmin(IntegerActionIdsMixin, admin.ModelAdmin):
    change_form_template = "admin/jobs/job/change_form.html"
    list_display = (
        "job_id",
        "job_type",
        "target_servers",
        "short_command",
        "status",
        "progress",
        "exit_code",
        "line_count",
        "created_at",
    )
    # By any of a job's servers (a playbook job targets several); only the servers of jobs the
    # user may see: a server limited to other groups is not named.
    list_filter = ("status", "job_type", ("servers", admin.RelatedOnlyFieldListFilter), "created_at")
    search_fields = ("job_id", "params__command", "params__playbook")
    date_hierarchy = "created_at"
    list_select_related = ("server",)
    inlines = [ApprovalRequestInline]
    list_per_page = 50
    show_full_result_count = False  # counting millions of jobs on every page is slow
    actions = ["rerun"]
    fieldsets = (
        (None, {"fields": ("job_id", "job_type", "status", "progress", "current_step", "exit_code", "error")}),
        ("Target", {"fields": ("server", "servers", "params", "timeout")}),
        (
            "Times",
            {
                "fields": (
                    "created_by",
                    "created_at",
                    "started_at",
                    "finished_at",
                    "heartbeat_at",
                    "cancel_requested_at",
                    "cancel_requested_by",
                )
            },
        ),
        ("Log", {"fields": ("log_file", "line_count", "last_seq", "logs_expired_at")}),
        ("Result", {"fields": ("result",), "classes": ("collapse",)}),
    )
    readonly_fields = [name for _, opts in fieldsets for name in opts["fields"]]

    @admin.display(description="servers")
    def target_servers(self, obj: Job) -> str:
        names = sorted(s.name for s in obj.servers.all()) or ([obj.server.name] if obj.server else [])
        return ", ".join(names) or "—"

    @admin.display(description="command / playbook")
    def short_command(self, obj: Job) -> str:
        return truncatechars(obj.command or obj.params.get("playbook", ""), 80)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # jobs are records: the detail page is read-only

    def get_queryset(self, request):
        return visible_jobs(request.user, super().get_queryset(request).prefetch_related("servers"))

    def has_rerun_permission(self, request):
        return may(request.user, Action.RUN)

    @admin.action(description="Re-run selected jobs (same parameters)", permissions=["rerun"])
    def rerun(self, request, queryset):
        jobs = list(queryset.select_related("server").prefetch_related("servers")[: MAX_RERUNS_PER_ACTION + 1])
        if len(jobs) > MAX_RERUNS_PER_ACTION:
            messages.error(request, f"Select at most {MAX_RERUNS_PER_ACTION} jobs to re-run at once.")
            return None
        started = []
        for job in jobs:
            if reason := denial(request.user, Action.RUN, job=job):
                # Not starting with the id: the admin capitalises a message's first letter.
                messages.error(request, f"Job {job.job_id}: {reason}")
                continue
            try:
                started.append(rerun_job(job=job, created_by=request.user))
            except (JobInputError, NotPermitted) as exc:  # NotPermitted: a policy refuses it
                messages.error(request, _rerun_refused(job, exc))
                continue
            if started[-1].status == JobStatus.AWAITING_APPROVAL:
                messages.warning(request, _held_note(started[-1]))
        if len(started) == 1 and len(jobs) == 1:
            return HttpResponseRedirect(reverse("jobs:detail", args=[started[0].job_id]))
        if started:
            messages.success(request, "Started " + ", ".join(j.job_id for j in started) + ".")
        return None

    def get_urls(self):
        extra = [path("<path:object_id>/rerun/", self.admin_site.admin_view(self.rerun_view), name="jobs_job_rerun")]
        return extra + super().get_urls()

    def rerun_view(self, request, object_id):
        """The "Re-run" button on a job's page: POST, then open the new job's live log."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if reason := denial(request.user, Action.RUN):
            raise PermissionDenied(reason)
        job = get_object_or_404(Job.objects.select_related("server"), pk=object_id)
        if reason := denial(request.user, Action.RUN, job=job):
            raise PermissionDenied(reason)
        try:
            new = rerun_job(job=job, created_by=request.user)
        except (JobInputError, NotPermitted) as exc:  # NotPermitted: a policy refuses it
            messages.error(request, _rerun_refused(job, exc))
            return HttpResponseRedirect(reverse("admin:jobs_job_change", args=[job.pk]))
        if new.status == JobStatus.AWAITING_APPROVAL:
            messages.warning(request, _held_note(new))
        return HttpResponseRedirect(reverse("jobs:detail", args=[new.job_id]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if job is not None:
            can_rerun = may(request.user, Action.RUN, job=job)
            extra_context.update(job=job, boot=viewer_boot(job, request.user), can_rerun=can_rerun)
        return super().change_view(request, object_id, form_url, extra_context)


# ---- policies ------------------------------------------------------------------------------
def _field_of(message: str) -> str | None:
    """The form field a PolicyInputError's message is about (None: the whole rule)."""
    if message.startswith("A policy named"):
        return "name"
    if message.startswith("Give command_regex"):
        return "command_regex"
    return next((f for f in FIELDS if message.startswith((f"{f} ", f"{f}:"))), None)


class PolicyAdminForm(forms.ModelForm):
    """The model's fields, with names typed as comma-separated text and the checks of
    jobs.policy.edit.clean (the page's and the API's) in `clean`."""

    servers = forms.CharField(required=False, help_text="server names, comma-separated; empty: any server")
    tags = forms.CharField(required=False, help_text="server tags, comma-separated; empty: any")
    groups = forms.CharField(required=False, help_text="who asks: group names, comma-separated; empty: anyone")
    scopes = forms.MultipleChoiceField(
        required=False, choices=[(s, s) for s in SCOPES], widget=forms.CheckboxSelectMultiple
    )
    via = forms.MultipleChoiceField(
        required=False, choices=[(v, v) for v in Via.values], widget=forms.CheckboxSelectMultiple
    )
    position = forms.IntegerField(required=False, min_value=0, help_text="0 is the first rule; empty: after the last")

    class Meta:
        model = Policy
        fields = list(FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.position_given = False
        if self.instance.pk:
            for name in ("servers", "tags", "groups"):
                self.initial[name] = ", ".join(getattr(self.instance, name) or [])

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        values = {f: data.get(f) for f in FIELDS}
        self.position_given = values["position"] is not None
        if not self.position_given:
            del values["position"]
        try:
            checked = clean_policy(values, current=self.instance if self.instance.pk else None)
        except PolicyInputError as exc:
            field = _field_of(str(exc))
            self.add_error(field if field in self.fields else None, str(exc))
            return data
        data.update(checked)  # lists, trimmed text: what the model gets
        return data

    def values(self) -> dict:
        values = {f: self.cleaned_data[f] for f in FIELDS}
        if not self.position_given:
            del values["position"]
        return values


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    form = PolicyAdminForm
    list_display = ("position", "name", "decision", "approvers", "approvals", "expires_in")
    list_display_links = ("name",)
    list_filter = ("decision",)
    search_fields = ("name", "description", "command_regex", "playbook")
    ordering = ("position", "id")

    def save_model(self, request, obj, form, change):
        """Saved through jobs.policy.edit (its position shifts and audit events), not obj.save()."""
        if change:
            saved = update_policy(
                policy=Policy.objects.get(pk=obj.pk), values=form.values(), actor=request.user, via="admin"
            )
        else:
            saved = create_policy(values=form.values(), actor=request.user, via="admin")
        for field in Policy._meta.concrete_fields:  # the admin goes on with `obj` (log entry, redirect)
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding, obj._state.db = False, saved._state.db

    def delete_model(self, request, obj):
        delete_policy(policy=obj, actor=request.user, via="admin")

    def delete_queryset(self, request, queryset):
        for policy in queryset:
            delete_policy(policy=policy, actor=request.user, via="admin")
