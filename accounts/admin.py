from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from accounts.models import ApiToken, AuditEvent
from accounts.services import TokenInputError, create_token, revoke_token


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "user", "scope", "created_at", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("scope",)
    fields = ("user", "name", "scope", "expires_at")
    search_fields = ("name", "user__username", "prefix")
    actions = ["revoke"]

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("user")
        return qs if request.user.is_superuser else qs.filter(user=request.user)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if not request.user.is_superuser and "user" in form.base_fields:
            # Only superusers create tokens for others.
            form.base_fields["user"].queryset = form.base_fields["user"].queryset.filter(pk=request.user.pk)
            form.base_fields["user"].initial = request.user.pk
        return form

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        try:
            record, token = create_token(
                user=obj.user,
                name=obj.name,
                scope=obj.scope,
                expires_at=obj.expires_at,
                created_by=request.user,
                via="admin",
            )
        except TokenInputError as exc:
            raise PermissionDenied(str(exc)) from None
        obj.pk = record.pk
        request._livchat_new_token = (record, token)

    def response_add(self, request, obj, post_url_continue=None):
        # The token is rendered into this one response: never a message (cookie) or a session.
        record, token = request._livchat_new_token
        context = {**self.admin_site.each_context(request), "record": record, "token": token, "title": "New token"}
        return TemplateResponse(request, "accounts/token_created.html", context)

    @admin.action(description="Revoke selected tokens", permissions=["delete"])
    def revoke(self, request, queryset):
        for record in queryset:
            revoke_token(record=record, by=request.user, via="admin")
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_name", "action", "target", "via")
    list_filter = ("action", "via")
    search_fields = ("actor_name", "target", "action")
    readonly_fields = ("at", "actor", "actor_name", "action", "target", "via", "detail")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
