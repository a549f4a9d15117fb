from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from servers import validators
from servers.checks import check_connection
from servers.forms import CheckedFields
from servers.guards import deletion_blocker, secrets_follow_denial
from servers.models import Credential, Server
from servers.permissions import Action, may, usable_credentials, usable_servers
from servers.services import ServerInputError, audit, fingerprints_of, set_credential_secrets
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


class ActorFormMixin:
    """The change form knows who is saving (`form.actor`): its rules ask the permission rule
    about that person (where stored secrets may go, where a template may be aimed)."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})


@admin.register(Credential)
class CredentialAdmin(IntegerActionIdsMixin, admin.ModelAdmin):
    form = CredentialForm
    list_display = ("name", "has_private_key", "has_password", "updated_at")
    search_fields = ("name",)

    def get_queryset(self, request):
        # A credential a restricted server uses is restricted like that server (servers.permissions).
        return usable_credentials(request.user, super().get_queryset(request))

    @admin.display(boolean=True)
    def has_private_key(self, obj):
        return obj.has_private_key

    @admin.display(boolean=True)
    def has_password(self, obj):
        return obj.has_password


def report_connection(request, server: Server) -> bool:
    audit(request.user, "server.test_connection", server.name, "admin", address=f"{server.host}:{server.port}")
    try:
        # "Server …", never the name first: the admin capitalises a message's first letter.
        messages.success(request, f"Server {check_connection(server=server)}")
        return True
    except SshError as exc:
        messages.error(request, f"Server {server.name}: {exc}")
        return False


SERVER_FORM_FIELDS = (
    "name",
    "host",
    "port",
    "username",
    "credential",
    "tags",
    "description",
    "max_concurrent_jobs",
    "python_interpreter",
    "allowed_groups",
)


class TagsField(forms.CharField):
    """Tags as comma-separated text (`web, test`), stored as a list."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value):
        try:
            return validators.parse_tags(super().to_python(value) or "")
        except validators.FieldError as exc:
            raise forms.ValidationError(str(exc)) from None


class ServerForm(CheckedFields, forms.ModelForm):
    """The same field rules as the API and add_server (servers/validators.py)."""

    tags = TagsField(required=False, help_text="Separated by commas, as in: web, test")

    expected_fingerprint = forms.CharField(
        required=False,
        label="Expected host key fingerprint",
        help_text=(
            "SHA256:... as `ssh-keygen -lf` prints it. The next contact must present this key; "
            "no credential is sent to a host presenting another. Replaces the pinned key if it differs."
        ),
    )

    class Meta:
        model = Server
        fields = SERVER_FORM_FIELDS

    def clean_name(self):
        return self._checked("name", validators.check_server_name)

    def clean_host(self):
        return self._checked("host", validators.check_host)  # an IDNA name is stored as xn--

    def clean_username(self):
        return self._checked("username", validators.check_username)

    def clean_python_interpreter(self):
        return self._checked("python_interpreter", validators.check_python_interpreter)

    def clean_expected_fingerprint(self):
        return self._checked("expected_fingerprint", validators.check_fingerprint)

    def clean(self):
        data = super().clean()
        actor = getattr(self, "actor", None)
        moved = self.instance.pk and {"host", "port"} & set(self.changed_data)
        if moved and actor is not None and not self.errors:
            reason = secrets_follow_denial(actor=actor, server=self.instance)
            if reason:
                raise forms.ValidationError(reason)
        return data


@admin.register(Server)
class ServerAdmin(ActorFormMixin, IntegerActionIdsMixin, admin.ModelAdmin):
    form = ServerForm
    change_form_template = "admin/servers/server/change_form.html"
    actions = ["test_connection"]
    list_display = ("name", "host", "port", "username", "host_key_fingerprint", "max_concurrent_jobs")
    search_fields = ("name", "host", "description")
    filter_horizontal = ("allowed_groups",)
    readonly_fields = ("host_key_fingerprint", "host_key", "host_key_pinned_at", "created_at")
    fields = (
        *SERVER_FORM_FIELDS,
        "expected_fingerprint",
        "host_key_fingerprint",
        "host_key",
        "host_key_pinned_at",
        "created_at",
    )

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else usable_servers(request.user, queryset)

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # The admin refuses a deletion that lists protected objects, with these words.
        blockers = [reason for server in objs if (reason := deletion_blocker(server=server))]
        return deleted, counts, perms_needed, [*protected, *blockers]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "credential":
            kwargs["queryset"] = usable_credentials(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not may(request.user, Action.MANAGE_CREDENTIALS):
            readonly.append("credential")  # attaching a credential needs the credential permission
        return readonly

    def save_model(self, request, obj, form, change):
        moved = change and {"host", "port"} & set(form.changed_data)
        if moved:
            _forget_host_key(obj)  # the next contact pins again before any credential is sent
        expected = form.cleaned_data.get("expected_fingerprint")
        if expected and expected not in fingerprints_of(obj.host_key):
            _forget_host_key(obj)
            obj.host_key_fingerprint = expected
        super().save_model(request, obj, form, change)
        if form.changed_data:  # allowed_groups too: who may use a server is worth a record
            groups = form.cleaned_data.get("allowed_groups") if "allowed_groups" in form.changed_data else None
            audit(
                request.user,
                "server.create" if not change else "server.update",
                obj.name,
                "admin",
                fields=sorted(form.changed_data),
                allowed_groups=sorted(g.name for g in groups) if groups is not None else None,
                host_key_forgotten=True if moved else None,
                expected_fingerprint=expected or None,
            )

    @admin.action(description="Test connection (run `true`)", permissions=["change"])
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
        if not str(object_id).isdigit():
            raise Http404("No such server.")
        server = get_object_or_404(self.get_queryset(request).select_related("credential"), pk=object_id)
        if not self.has_change_permission(request, server):
            messages.error(request, "Testing the connection needs the permission to change this server.")
        else:
            report_connection(request, server)
        return HttpResponseRedirect(reverse("admin:servers_server_change", args=[server.pk]))


def _forget_host_key(server: Server) -> None:
    server.host_key, server.host_key_fingerprint, server.host_key_pinned_at = "", "", None
