from django import forms
from django.contrib import admin

from servers.models import Credential, Server
from servers.services import ServerInputError, set_credential_secrets


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


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    form = CredentialForm
    list_display = ("name", "has_private_key", "has_password", "updated_at")
    search_fields = ("name",)

    @admin.display(boolean=True)
    def has_private_key(self, obj):
        return obj.has_private_key

    @admin.display(boolean=True)
    def has_password(self, obj):
        return obj.has_password


@admin.register(Server)
class ServerAdmin(admin.ModelAdmin):
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
