"""Forms of the job pages: start a command or a playbook, filter the job list."""

from __future__ import annotations

from django import forms
from django.conf import settings

from jobs.models import JobStatus, JobType
from jobs.runners.playbook.catalog import (
    MAX_EXTRA_VARS_BYTES,
    MAX_NAME_LENGTH,
    MAX_SERVERS,
    default_timeout,
    list_playbooks,
    parse_json_object,
    resolve_playbook,
    validate_extra_vars,
)
from jobs.services import JobInputError
from servers.models import Server

MAX_SEARCH_LENGTH = 200


class RunCommandForm(forms.Form):
    command = forms.CharField(
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
        help_text="Runs with the server's login shell; output is streamed live.",
    )
    timeout = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.JOB_MAX_TIMEOUT,
        help_text=f"Seconds (default {settings.JOB_DEFAULT_TIMEOUT}).",
        widget=forms.NumberInput(attrs={"placeholder": str(settings.JOB_DEFAULT_TIMEOUT)}),
    )
    working_dir = forms.CharField(required=False, max_length=4096, widget=forms.TextInput(attrs={"placeholder": "~"}))


class JobFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, label="Status", choices=[("", "any status"), *JobStatus.choices])
    type = forms.ChoiceField(required=False, label="Type", choices=[("", "any type"), *JobType.choices])
    server = forms.ChoiceField(required=False, label="Server")
    q = forms.CharField(
        required=False,
        label="Search",
        max_length=MAX_SEARCH_LENGTH,
        error_messages={"max_length": f"Search for at most {MAX_SEARCH_LENGTH} characters."},
        widget=forms.SearchInput(attrs={"placeholder": "command or playbook", "aria-label": "Search"}),
    )

    def __init__(self, *args, servers=None, **kwargs):
        """`servers`: the servers to offer (the ones the user may use; all when None)."""
        super().__init__(*args, **kwargs)
        names = (Server.objects.all() if servers is None else servers).order_by("name").values_list("name", flat=True)
        self.fields["server"].choices = [("", "any server"), *((n, n) for n in names)]
        for name in ("status", "type", "server"):
            self.fields[name].widget.attrs["aria-label"] = self.fields[name].label

    def filters(self) -> dict:
        """The valid filters only; an invalid one is reported and ignored."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {key: data[key] for key in ("status", "type", "server", "q") if data.get(key)}

    def error_text(self) -> list[str]:
        """Every error as a sentence a person reads: "Status: Select a valid choice…"."""
        return [f"{self.fields[name].label}: {error}" for name, errors in self.errors.items() for error in errors]


# ---- playbooks ---------------------------------------------------------------------------
def parse_extra_vars_text(text: str) -> dict:
    """The form's extra vars: one JSON object, or `NAME=VALUE` lines (values stay text, like
    `ansible-playbook -e`; blank lines and `# comments` are skipped). JobInputError if invalid."""
    if not text.strip():
        return {}
    if text.lstrip().startswith("{"):
        value = parse_json_object(
            text,
            invalid="Extra vars are not valid JSON",
            not_object='Extra vars in JSON must be one object, like {"name": "value"}.',
        )
        return validate_extra_vars(value)
    result: dict = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            shown = line if len(line) <= 80 else line[:80] + "…"
            raise JobInputError(f"Extra vars line {number}: expected NAME=VALUE or a JSON object, got {shown!r}.")
        result[key.strip()] = value.strip()
    return validate_extra_vars(result)


def _field_words(message: str) -> str:
    """The service's message in the form's words: "extra_vars: 'x' is …" → "'x' is …" (the
    error sits under its field), "extra_vars must …" → "Extra vars must …"."""
    if message.startswith("extra_vars: "):
        return message[len("extra_vars: ") :]
    if message.startswith("extra_vars "):
        return "Extra vars " + message[len("extra_vars ") :]
    return message


class RunPlaybookForm(forms.Form):
    """Run a playbook on one server (the server page); PlaybookRunForm adds the server choice."""

    playbook = forms.CharField(max_length=MAX_NAME_LENGTH, widget=forms.Select)
    extra_vars = forms.CharField(
        required=False,
        strip=False,  # error messages count lines as typed
        max_length=MAX_EXTRA_VARS_BYTES,
        widget=forms.Textarea(
            attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off", "placeholder": "name=value\nother=value"}
        ),
        help_text='NAME=VALUE lines, or one JSON object like {"packages": ["git"]}. Not ansible_*.',
    )
    check = forms.BooleanField(
        required=False, label="Check mode", help_text="Ansible check mode with diffs: reports, changes nothing."
    )
    timeout = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.JOB_MAX_TIMEOUT,
        help_text=f"Seconds for the whole run (default {default_timeout()}).",
        widget=forms.NumberInput(attrs={"placeholder": str(default_timeout())}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.playbooks = list_playbooks()
        choices = [(p.name, p.name if p.source == "builtin" else f"{p.name} (operator)") for p in self.playbooks]
        self.fields["playbook"].widget.choices = [("", "choose a playbook…"), *choices]

    def clean_playbook(self) -> str:
        try:
            return resolve_playbook(self.cleaned_data["playbook"]).name
        except JobInputError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_extra_vars(self) -> dict:
        try:
            return parse_extra_vars_text(self.cleaned_data.get("extra_vars") or "")
        except JobInputError as exc:
            raise forms.ValidationError(_field_words(str(exc))) from None


class PlaybookRunForm(RunPlaybookForm):
    """Run a playbook on servers chosen from the list (the playbooks page)."""

    servers = forms.ModelMultipleChoiceField(
        queryset=Server.objects.none(),
        to_field_name="name",
        widget=forms.SelectMultiple(attrs={"size": 6}),
        error_messages={
            "required": "Choose at least one server.",
            "invalid_choice": "Unknown server %(value)s.",
        },
        help_text="Ctrl/⌘-click to choose several.",
    )
    field_order = ["playbook", "servers", "extra_vars", "check", "timeout"]

    def __init__(self, *args, usable=None, **kwargs):
        """`usable`: the servers to offer (the ones the user may use; all when None). A posted
        server outside them still validates, so the view refuses it with the reason (403)."""
        super().__init__(*args, **kwargs)
        field = self.fields["servers"]
        field.queryset = Server.objects.select_related("credential").order_by("name")
        if usable is not None:
            field.widget.choices = [(name, name) for name in usable.order_by("name").values_list("name", flat=True)]

    def clean_servers(self) -> list[Server]:
        servers = list(self.cleaned_data["servers"])
        if len(servers) > MAX_SERVERS:
            raise forms.ValidationError(f"A playbook job may target at most {MAX_SERVERS} servers.")
        return servers


class FleetRunForm(RunCommandForm):
    """The "Run on…" form: one command on servers picked by name and/or tag (jobs.services.resolve_targets).
    The command, timeout and working dir are RunCommandForm's fields; only their help differs."""

    servers = forms.MultipleChoiceField(
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="Ctrl/⌘-click to choose several.",
    )
    tags = forms.MultipleChoiceField(
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="Every server with one of these tags.",
    )
    forks = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=100,
        help_text="Servers at once (default 10).",
        widget=forms.NumberInput(attrs={"placeholder": "10"}),
    )
    succeed_if_any = forms.BooleanField(required=False, label="Succeed if at least one server succeeds")

    def __init__(self, *args, usable=None, **kwargs):
        """`usable`: the servers the user may use; their names and tags are the choices. A posted
        name outside them is left for resolve_targets, which answers "unknown or not permitted"."""
        super().__init__(*args, **kwargs)
        self.fields["command"].help_text = "Runs on every chosen server with its login shell."
        self.fields["timeout"].help_text = f"Seconds for the whole run (default {settings.JOB_DEFAULT_TIMEOUT})."
        rows = list((usable if usable is not None else Server.objects.all()).order_by("name").values("name", "tags"))
        self.fields["servers"].choices = [(r["name"], r["name"]) for r in rows]
        tags = sorted({t for r in rows for t in (r["tags"] or []) if isinstance(t, str)})
        self.fields["tags"].choices = [(t, t) for t in tags]
        self.fields["servers"].valid_value = lambda value: isinstance(value, str)
        self.fields["tags"].valid_value = lambda value: isinstance(value, str)

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("servers") and not data.get("tags"):
            raise forms.ValidationError("Choose at least one server or tag.")
        return data
