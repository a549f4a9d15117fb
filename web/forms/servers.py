"""The "Add server" / "Edit server" form and the re-pin confirmation (web/views/servers.py).

Secrets are write-only: nothing stored is ever put back into the page; on edit a blank key or
password keeps the stored one. The rules are the shared ones (servers/validators.py and
servers.services.check_private_key, with servers.forms.CheckedFields, which the admin uses too),
so the page, the admin, the API and `add_server` agree.
"""

from __future__ import annotations

from django import forms

from servers import validators
from servers.forms import CheckedFields
from servers.models import Server
from servers.services import ServerInputError, check_private_key, fingerprints_of

MAX_KEY_BYTES = 64 * 1024
PORT_RANGE = "Port must be between 1 and 65535."
KEY_PLACEHOLDER = "-----BEGIN OPENSSH PRIVATE KEY-----\n...\n-----END OPENSSH PRIVATE KEY-----"


def _text(attrs=None, **kw):
    return forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", **(attrs or {})}, **kw)


class ServerForm(CheckedFields, forms.Form):
    # A plain CharField: the one rule (validators.check_server_name) says in words what a name may
    # hold, where a SlugField would answer Django's "Enter a valid “slug”…" first.
    name = forms.CharField(
        max_length=validators.SERVER_NAME_MAX,
        widget=_text(),
        help_text="Letters, digits, - and _; used in URLs and commands.",
        error_messages={
            "required": "Give the server a name.",
            "max_length": f"A server name has at most {validators.SERVER_NAME_MAX} characters.",
        },
    )
    host = forms.CharField(
        max_length=validators.HOST_MAX,
        widget=_text({"placeholder": "10.0.0.5 or web1.example"}),
        error_messages={"required": "Give the host name or IP address."},
    )
    port = forms.IntegerField(
        min_value=1,
        max_value=65535,
        initial=22,
        error_messages={
            "required": "Give the port (22 is SSH's).",
            "min_value": PORT_RANGE,
            "max_value": PORT_RANGE,
            "invalid": "Port must be a whole number between 1 and 65535.",
        },
    )
    username = forms.CharField(
        label="User",
        max_length=validators.USERNAME_MAX,
        initial="root",
        widget=_text(),
        error_messages={"required": "Give the user to log in as (root, deploy...)."},
    )
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    max_concurrent_jobs = forms.IntegerField(label="Jobs at once", min_value=1, max_value=1000, initial=4)
    tags = forms.CharField(
        required=False, max_length=5000, widget=_text({"placeholder": "web, test"}), help_text="Separated by commas."
    )
    private_key = forms.CharField(
        required=False,
        max_length=MAX_KEY_BYTES,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false", "placeholder": KEY_PLACEHOLDER}),
    )
    private_key_file = forms.FileField(required=False, label="or upload the key file")
    passphrase = forms.CharField(
        required=False, max_length=1024, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "off"})
    )
    password = forms.CharField(
        required=False,
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    # Filled by "Test connection": the key the host presented there, for the person to confirm.
    host_key = forms.CharField(required=False, max_length=16_000, widget=forms.HiddenInput)
    host_key_fingerprint = forms.CharField(required=False, max_length=128, widget=forms.HiddenInput)
    probed_address = forms.CharField(required=False, max_length=300, widget=forms.HiddenInput)
    confirm_fingerprint = forms.BooleanField(required=False, label="I have checked this fingerprint")
    pin_on_first_contact = forms.BooleanField(
        required=False, label="Don't check now: trust the key the host presents on the first connection"
    )

    def __init__(self, *args, server: Server | None = None, testing: bool = False, **kwargs):
        """`server`: the one being edited (None: a new one). `testing`: only what a connection
        test needs is checked (no name, no secret required, no pin decision)."""
        self.server, self.testing = server, testing
        if server is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": server.name,
                    "host": server.host,
                    "port": server.port,
                    "username": server.username,
                    "description": server.description,
                    "max_concurrent_jobs": server.max_concurrent_jobs,
                    "tags": ", ".join(server.tags or []),
                },
            )
        super().__init__(*args, **kwargs)
        if server is not None:
            self.fields["name"].disabled = True  # renaming would break job history and URLs
            self.fields["private_key"].help_text = "Leave blank to keep the stored key."
            self.fields["password"].help_text = "Leave blank to keep the stored password."
        if testing:
            self.fields["name"].required = False

    # ---- fields -------------------------------------------------------------------------------
    def clean_name(self):
        name = self._checked("name", validators.check_server_name)
        if self.server is None and name and Server.objects.filter(name=name).exists():
            raise forms.ValidationError(f"A server named {name!r} exists already: choose another name.")
        return name

    def clean_host(self):
        return self._checked("host", validators.check_host)

    def clean_username(self):
        return self._checked("username", validators.check_username)

    def clean_tags(self):
        try:
            return validators.parse_tags(self.cleaned_data.get("tags") or "")
        except validators.FieldError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_private_key_file(self):
        upload = self.cleaned_data.get("private_key_file")
        if not upload:
            return ""
        if upload.size > MAX_KEY_BYTES:
            raise forms.ValidationError("This file is too large to be a private key.")
        try:
            return upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise forms.ValidationError("This file is not a text private key (OpenSSH or PEM format).") from None

    # ---- the whole form -------------------------------------------------------------------------
    def clean(self):
        data = super().clean()
        key = _key_text(data.get("private_key_file") or data.get("private_key") or "")
        data["private_key"] = key
        if key:
            try:
                check_private_key(private_key=key, passphrase=data.get("passphrase") or None)
            except ServerInputError as exc:
                field = "private_key_file" if data.get("private_key_file") else "private_key"
                self.add_error(field, _key_hint(str(exc), key))
        if self.testing or self.errors:
            return data
        cred = self.server.credential if self.server is not None else None
        try:
            validators.check_has_secret(
                has_key=bool(key) or bool(cred and cred.has_private_key),
                has_password=bool(data.get("password")) or bool(cred and cred.has_password),
            )
        except validators.FieldError as exc:
            self.add_error("password", str(exc))
        self._clean_pin(data)
        return data

    def address(self) -> str:
        return f"{self.cleaned_data.get('host')}:{self.cleaned_data.get('port')}"

    def moved(self) -> bool:
        data = self.cleaned_data
        return self.server is None or (data.get("host"), data.get("port")) != (self.server.host, self.server.port)

    def _clean_pin(self, data: dict) -> None:
        """`data["pin"]`: (public key, fingerprint) to pin after saving, or None."""
        data["pin"] = None
        fingerprint, public_key = data.get("host_key_fingerprint", ""), data.get("host_key", "")
        pinned_stays = self.server is not None and self.server.host_key and not self.moved()
        if pinned_stays:
            return  # a pinned key changes only through "Re-pin host key"
        if fingerprint:
            if data.get("probed_address") != self.address():
                self.add_error("host", "You changed the host or port after testing: test the connection again.")
            elif fingerprints_of(public_key) != {fingerprint}:
                self.add_error(
                    "confirm_fingerprint", "The host key of the test is unreadable: test the connection again."
                )
            elif data.get("confirm_fingerprint"):
                data["pin"] = (public_key, fingerprint)
                return
            elif not data.get("pin_on_first_contact"):
                self.add_error(
                    "confirm_fingerprint",
                    "Compare the fingerprint with the host's own (ssh-keygen -lf on the host), then tick "
                    "“I have checked this fingerprint”.",
                )
                return
        if self.moved() and not data.get("pin_on_first_contact") and not self.errors:
            self.add_error(
                "pin_on_first_contact",
                "Test the connection and confirm the host key fingerprint, or choose to trust the key "
                "the host presents on the first connection.",
            )

    def secrets(self) -> dict:
        """The secrets given (None: keep the stored one)."""
        data = self.cleaned_data
        return {k: (data.get(k) or None) for k in ("private_key", "passphrase", "password")}

    def server_fields(self) -> dict:
        data = self.cleaned_data
        keys = ("host", "port", "username", "description", "max_concurrent_jobs", "tags")
        return {k: data[k] for k in keys}


class RepinForm(forms.Form):
    old_fingerprint = forms.CharField(required=False, max_length=128, widget=forms.HiddenInput)
    new_fingerprint = forms.CharField(max_length=128, widget=forms.HiddenInput)


def _key_text(text: str) -> str:
    # Textareas send CRLF; a key file may lack its final newline.
    text = text.replace("\r\n", "\n").strip()
    return text + "\n" if text else ""


def _key_hint(message: str, key: str) -> str:
    if key.lstrip().startswith(("ssh-", "ecdsa-", "sk-")):
        return "This is a public key: give the private key (the file without .pub)."
    if "assphrase" in message:
        return message + " (the key is encrypted: give its passphrase)"
    return message
