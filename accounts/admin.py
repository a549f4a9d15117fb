from django.contrib import admin, messages

from accounts.models import ApiToken
from accounts.services import create_token


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "user", "created_at", "last_used_at")
    fields = ("user", "name")
    search_fields = ("name", "user__username", "prefix")

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        record, token = create_token(user=obj.user, name=obj.name)
        obj.pk = record.pk
        messages.warning(request, f"New API token (shown once, copy it now): {token}")
