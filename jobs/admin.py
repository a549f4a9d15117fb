from django.contrib import admin

from jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("job_id", "job_type", "server", "status", "progress", "exit_code", "line_count", "created_at")
    list_filter = ("status", "job_type", "server", "created_at")
    search_fields = ("job_id", "params")
    date_hierarchy = "created_at"
    list_select_related = ("server",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
