from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from servers.checks import check_connection
from servers.models import Credential, Server
from servers.services import ServerInputError, set_credential_secrets
from servers.ssh import SshError

MAX_CHECKS_PER_ACTION = 20


class CredentialForm(forms.ModelForm):
    """Secrets are write-only: the form never shows what is stored, blank keeps it."""

    private_key = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        help_text="Paste a new private key to replace the stored one; leave blank to keep it.",
    )
    passphrase = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False)
    password = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False)

    class Meta:
        model = Credential
        fields = ("name",)

    def clean(self):
        data = super().clean()
        try:
            set_credential_secrets(
                credential=self.instance,
                private_key=data.get("private_key") or None,
                passphrase=data.get("passphrase") or None,
                password=data.get("password") or None,
            )
        except ServerInputError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


class IntegerActionIdsMixin:
    """Drop selected-row ids that are not numbers: a hand-made POST gets the usual
    "no items selected" answer instead of a ValueError deep in the queryset."""

    def response_action(self, request, queryset):
        ids = request.POST.getlist(ACTION_CHECKBOX_NAME)
        if any(not i.isdigit() for i in ids):
            post = request.POST.copy()
            post.setlist(ACTION_CHECKBOX_NAME, [i for i in ids if i.isdigit()])
            request.POST = post
        return super().response_action(request, queryset)


@admin.register(Credential)
class CredentialAdmin(IntegerActionIdsMixin, admin.ModelAdmin):
    form = CredentialForm
    list_display = ("name", "has_private_key", "has_password", "updated_at")
    search_fields = ("name",)

    @admin.display(boolean=True)
    def has_private_key(self, obj):
        return obj.has_private_key

    @admin.display(boolean=True)
    def has_password(self, obj):
        return obj.has_password


def report_connection(request, server: Server) -> bool:
    try:
        messages.success(request, check_connection(server=server))
        return True
    except SshError as exc:
        messages.error(request, f"{server.name}: {exc}")
        return False


@admin.register(Server)
class ServerAdmin(IntegerActionIdsMixin, admin.ModelAdmin):
    change_form_template = "admin/servers/server/change_form.html"
    actions = ["test_connection"]
    list_display = ("name", "host", "port", "username", "host_key_fingerprint", "max_concurrent_jobs")
    search_fields = ("name", "host", "description")
    readonly_fields = ("host_key_fingerprint", "host_key", "host_key_pinned_at", "created_at")
    fields = (
        "name",
        "host",
        "port",
        "username",
        "credential",
        "tags",
        "description",
        "max_concurrent_jobs",
        "python_interpreter",
        "host_key_fingerprint",
        "host_key",
        "host_key_pinned_at",
        "created_at",
    )

    @admin.action(description="Test connection (run `true`)")
    def test_connection(self, request, queryset):
        servers = list(queryset.select_related("credential")[: MAX_CHECKS_PER_ACTION + 1])
        if len(servers) > MAX_CHECKS_PER_ACTION:
            messages.error(request, f"Select at most {MAX_CHECKS_PER_ACTION} servers to test at once.")
            return
        for server in servers:
            report_connection(request, server)

    def get_urls(self):
        extra = [
            path(
                "<path:object_id>/test-connection/",
                self.admin_site.admin_view(self.test_connection_view),
                name="servers_server_test_connection",
            )
        ]
        return extra + super().get_urls()

    def test_connection_view(self, request, object_id):
        """The "Test connection" button on a server's page (POST, then back to the page)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        server = get_object_or_404(Server.objects.select_related("credential"), pk=object_id)
        if not self.has_view_or_change_permission(request, server):
            messages.error(request, "You may not use this server.")
        else:
            report_connection(request, server)
        return HttpResponseRedirect(reverse("admin:servers_server_change", args=[server.pk]))
