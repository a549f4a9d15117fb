"""The policy form of `/policies/new/` and `/policies/<pk>/edit/` (web/views/policies.py).

The fields are named as the model's (jobs.models.Policy). The form only turns the page's text
into values (names as comma-separated text, a duration like "12h"); whether a rule is valid is
jobs.policy.edit.clean's call, on every surface alike. Its PolicyInputError is put next to the
field it is about (`error_field`)."""

from __future__ import annotations

import re

from django import forms
from django.contrib.auth.models import Group

from jobs.models import Decision, Policy, Via
from jobs.policy.edit import FIELDS, MAX_APPROVALS, SCOPES

_DURATION = re.compile(r"(\d+)\s*([smhdw]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
SCOPE_LABELS = {"read": "read token", "run": "run token", "session": "signed-in person (no token)"}
VIA_LABELS = {"web": "web pages", "api": "API", "cli": "command line", "mcp": "MCP (agents)", "schedule": "schedules"}


def duration_text(seconds: int) -> str:
    """86400 → '1d', 5400 → '90m', 61 → '61s': the shortest exact way to write it."""
    for unit, size in (("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def error_field(message: str) -> str | None:
    """The form field a PolicyInputError's message is about (None: the whole rule)."""
    if message.startswith("A policy named"):
        return "name"
    if message.startswith("Give command_regex"):
        return "command_regex"
    for field in FIELDS:
        if re.match(rf"{field}\b", message):
            return field
    return None


class NamesField(forms.CharField):
    """A list of names typed as comma-separated text (jobs.policy.edit checks each name)."""

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return value


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="unique, e.g. prod-writes")
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="why the rule exists: shown to whoever it stops",
    )
    command_regex = forms.CharField(
        required=False,
        max_length=500,
        label="Command regex",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off", "class": "mono"}),
        help_text="a regular expression searched in a command, e.g. \\b(reboot|shutdown)\\b",
    )
    playbook = forms.CharField(
        required=False,
        max_length=255,
        label="Playbook",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off", "class": "mono"}),
        help_text="a glob of playbook names, e.g. deploy-*.yml",
    )
    servers = NamesField(required=False, help_text="server names, comma-separated; empty: any server")
    tags = NamesField(required=False, help_text="server tags, comma-separated; empty: any")
    groups = NamesField(required=False, help_text="who asks: group names, comma-separated; empty: anyone")
    scopes = forms.MultipleChoiceField(
        required=False,
        choices=[(s, SCOPE_LABELS.get(s, s)) for s in SCOPES],
        widget=forms.CheckboxSelectMultiple,
        label="Asked as",
        help_text="none ticked: any",
    )
    via = forms.MultipleChoiceField(
        required=False,
        choices=[(v, VIA_LABELS.get(v, v)) for v in Via.values],
        widget=forms.CheckboxSelectMultiple,
        label="Through",
        help_text="none ticked: any surface",
    )
    decision = forms.ChoiceField(choices=Decision.choices, widget=forms.RadioSelect, initial=Decision.APPROVE)
    approvers = forms.ChoiceField(required=False, help_text="the group whose members approve")
    approvals = forms.IntegerField(
        min_value=1, max_value=MAX_APPROVALS, initial=1, help_text=f"people needed, 1 to {MAX_APPROVALS}"
    )
    expires_in = forms.CharField(
        max_length=20,
        initial="1d",
        label="Expires in",
        help_text="how long a request may wait: seconds, or 30m, 12h, 1d, 2w",
    )
    position = forms.IntegerField(
        required=False, min_value=0, help_text="0 is the first rule; empty: after the last rule"
    )

    def __init__(self, *args, policy: Policy | None = None, **kwargs):
        if policy is not None and not args and "initial" not in kwargs:
            initial = {f: getattr(policy, f) for f in FIELDS}
            initial["expires_in"] = duration_text(policy.expires_in)
            kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        self.policy = policy
        groups = list(Group.objects.order_by("name").values_list("name", flat=True))
        if groups:
            self.fields["groups"].help_text += f" (groups: {', '.join(groups)})"
        current = policy.approvers if policy is not None else ""
        if current and current not in groups:  # a group deleted since: still shown, the check says so
            groups.append(current)
        self.fields["approvers"].choices = [("", "—"), *((g, g) for g in groups)]
        if policy is None:
            self.fields["approvers"].initial = "Admins" if "Admins" in groups else ""

    def clean_expires_in(self) -> int:
        text = self.cleaned_data["expires_in"].strip().lower()
        match = _DURATION.fullmatch(text)
        if not match:
            raise forms.ValidationError("Write seconds (3600) or a number with m, h, d or w (30m, 12h, 1d).")
        return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]

    def values(self) -> dict:
        """The values for jobs.policy.edit (create_policy / update_policy); no position: the
        end of the list (a new rule) or where it is (a change)."""
        data = {f: self.cleaned_data.get(f) for f in FIELDS}
        if data["position"] is None:
            del data["position"]
        return data

    def add_service_error(self, message: str) -> None:
        """A PolicyInputError, next to the field it names (or above the form)."""
        field = error_field(message)
        self.add_error(field if field in self.fields else None, message)
