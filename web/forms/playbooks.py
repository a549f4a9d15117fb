"""Forms that start a playbook: on the server page (RunPlaybookForm, the page's own server) and
on the playbooks page (PlaybookRunForm, servers chosen from a list). The rules are the catalog's
(jobs.runners.playbook.catalog); these forms read the typed text and word the messages."""

from __future__ import annotations

from django import forms
from django.conf import settings

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
        # data-chips: static/js/select-chips.js shows it as chips (no Ctrl-click to choose several).
        widget=forms.SelectMultiple(attrs={"size": 6, "data-chips": "", "data-chips-noun": "a server"}),
        error_messages={
            "required": "Choose at least one server.",
            "invalid_choice": "Unknown server %(value)s.",
        },
        help_text="One or several.",
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
