"""The forms that use a template (web/views/templates.py): launch it (one field per prompt) and
add a schedule; and what the template forms share: prompt fields, messages in words, the
viewer's zone. The create/edit form is web/forms/template_edit.py.

Every rule is in automation.services / prompts / schedules (and the job rules they call); these
forms only turn posted text into the values those rules take, call each rule for its own field
so its message lands next to that field, and say the messages in words."""

from __future__ import annotations

from urllib.parse import unquote

from django import forms

from automation import schedules as schedule_rules
from automation.models import NotifyOn, OverlapPolicy
from jobs.services import JobInputError

MAX_TEXT = 10_000
COMMON_ZONES = [
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Moscow",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Asia/Singapore",
    "Australia/Sydney",
    "Africa/Johannesburg",
]
OTHER_ZONE = "other"
# Messages of the shared rules start with the API's field name; on a page they read in words.
WORDS = {
    "name": "The name",
    "command": "The command",
    "playbook": "The playbook",
    "timeout": "The timeout",
    "working_dir": "The working folder",
    "extra_vars": "Extra vars",
    "webhook_url": "The webhook URL",
    "webhook_format": "The webhook format",
    "notify_on": "“Notify”",
    "tags": "Tags",
    "kind": "The kind",
    "prompts": "Prompts",
}


def worded(message: str) -> str:
    first, sep, rest = message.partition(" ")
    key = first.rstrip(":")
    if key in WORDS and sep:
        return f"{WORDS[key]}{first[len(key) :]} {rest}"
    return message


def add_prompt_fields(form: forms.Form, prompts: list[dict]) -> list[str]:
    """One field per prompt (`prompt_<name>`), typed like the prompt; returns the names."""
    names = []
    for prompt in prompts:
        name = prompt["name"]
        label = prompt.get("label") or name.replace("_", " ").capitalize()
        common = {"label": label, "required": bool(prompt.get("required")), "initial": prompt.get("default")}
        if prompt["type"] == "integer":
            field = forms.IntegerField(**common)
        elif prompt["type"] == "choice":
            choices = [(c, c) for c in prompt.get("choices") or []]
            if not prompt.get("required"):
                choices = [("", "—"), *choices]
            field = forms.ChoiceField(choices=choices, **common)
        else:
            field = forms.CharField(max_length=MAX_TEXT, strip=False, **common)
        field.widget.attrs["data-prompt"] = name
        form.fields[f"prompt_{name}"] = field
        names.append(name)
    return names


class PromptValuesMixin:
    prompt_names: list[str]

    def prompt_fields(self):
        return [self[f"prompt_{n}"] for n in self.prompt_names]

    def values(self) -> dict:
        data = self.cleaned_data
        return {n: data[f"prompt_{n}"] for n in self.prompt_names if data.get(f"prompt_{n}") not in (None, "")}


class LaunchForm(PromptValuesMixin, forms.Form):
    notify = forms.ChoiceField(
        required=False,
        label="Notify",
        choices=[("", "as the template says"), *NotifyOn.choices],
        help_text="Override the template's notifications for this run.",
    )

    def __init__(self, *args, prompts: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        self.prompt_names = add_prompt_fields(self, prompts)
        self.order_fields([f"prompt_{n}" for n in self.prompt_names] + ["notify"])


# ---- add a schedule -------------------------------------------------------------------------
class ScheduleForm(PromptValuesMixin, forms.Form):
    cron = forms.CharField(
        max_length=200,
        label="Cron expression",
        help_text="minute hour day month weekday, e.g. 0 3 * * * for 03:00 every day",
        widget=forms.TextInput(attrs={"class": "mono", "spellcheck": "false"}),
    )
    timezone = forms.ChoiceField(label="Time zone", choices=())
    timezone_other = forms.CharField(
        required=False, max_length=64, label="Other time zone", help_text="an IANA name, e.g. Pacific/Auckland"
    )
    overlap = forms.ChoiceField(
        choices=OverlapPolicy.choices, initial=OverlapPolicy.SKIP, label="If the previous run is still going"
    )

    def __init__(self, *args, prompts: list[dict], viewer_zone: str = "", **kwargs):
        super().__init__(*args, prefix="schedule", **kwargs)
        zones = list(COMMON_ZONES)
        if viewer_zone and viewer_zone not in zones:
            zones.insert(0, viewer_zone)
        self.fields["timezone"].choices = [(z, z) for z in zones] + [(OTHER_ZONE, "Other (type it below)")]
        self.fields["timezone"].initial = viewer_zone or "UTC"
        self.prompt_names = add_prompt_fields(self, prompts)
        for name in self.prompt_names:
            # Labelled by the prompt's name, so the launch form's label stays the one on the page.
            self.fields[f"prompt_{name}"].label = name
            self.fields[f"prompt_{name}"].help_text = "value for the scheduled runs"

    def clean(self):
        data = super().clean()
        try:
            if "cron" in data:
                data["cron"] = schedule_rules.clean_cron(data["cron"])
        except JobInputError as exc:
            self.add_error("cron", str(exc))
        zone = data.get("timezone")
        field = "timezone"
        if zone == OTHER_ZONE:
            zone, field = (data.get("timezone_other") or "").strip(), "timezone_other"
            if not zone:
                self.add_error(field, "Type the time zone, e.g. Pacific/Auckland.")
                return data
        if zone:
            try:
                data["zone"] = schedule_rules.clean_timezone(zone)
            except JobInputError as exc:
                self.add_error(field, str(exc))
        return data


def viewer_zone(request) -> str:
    """The zone clock.js stored in the `livchat_tz` cookie, if it names a real zone."""
    name = unquote(request.COOKIES.get("livchat_tz", ""))
    try:
        return schedule_rules.clean_timezone(name) if 0 < len(name) <= 64 else ""
    except JobInputError:
        return ""
