"""Jobs in the admin: filters and search, a read-only detail page with the live log viewer
embedded, and "re-run". Log lines are deliberately not an admin changelist (millions of rows).

Permissions come from servers.permissions: a user sees only the jobs they may see (none on a
server limited to groups they are not in), and re-runs only where they may run."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import truncatechars
from django.urls import path, reverse

from jobs.models import Job
from jobs.services import JobInputError, rerun_job
from jobs.viewer import viewer_boot
from servers.admin import IntegerActionIdsMixin
from servers.permissions import Action, denial, may, visible_jobs

MAX_RERUNS_PER_ACTION = 50


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
            except JobInputError as exc:
                messages.error(request, str(exc))
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
        except JobInputError as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(reverse("admin:jobs_job_change", args=[job.pk]))
        return HttpResponseRedirect(reverse("jobs:detail", args=[new.job_id]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if job is not None:
            can_rerun = may(request.user, Action.RUN, job=job)
            extra_context.update(job=job, boot=viewer_boot(job, request.user), can_rerun=can_rerun)
        return super().change_view(request, object_id, form_url, extra_context)
