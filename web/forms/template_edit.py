"""The create/edit form of a template (web/views/templates.py): its command or playbook, targets,
prompt rows and notification settings, as services.save_template takes them.

Every rule is in automation.services / prompts (and the job rules they call); this form only
turns posted text into the values those rules take, calls each rule for its own field so its
message lands next to that field, and says the messages in words (web.forms.templates.worded)."""

from __future__ import annotations

import json

from django import forms
from django.conf import settings

from automation import prompts as prompt_rules
from automation import services
from automation.models import JobTemplate, NotifyOn, TemplateKind, WebhookFormat
from jobs.runners.playbook.catalog import list_playbooks, resolve_playbook, validate_extra_vars
from jobs.services import JobInputError, validate_command, validate_timeout, validate_working_dir
from servers.models import Server
from servers.permissions import usable_servers
from web.forms.templates import worded

BLANK_PROMPT_ROWS = 3  # without JavaScript: this many empty rows to fill (save, edit again for more)
PROMPT_TYPES = [("text", "Text"), ("integer", "Whole number"), ("choice", "Choice")]


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="lowercase letters, digits, '-' and '_'; it is the page's address")
    description = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    kind = forms.ChoiceField(choices=TemplateKind.choices, widget=forms.RadioSelect, initial=TemplateKind.COMMAND)
    command = forms.CharField(
        required=False,
        strip=False,
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono", "spellcheck": "false"}),
        help_text="{{ name }} is replaced by the value of prompt “name”, shell-quoted: write it outside quotes.",
    )
    playbook = forms.ChoiceField(required=False, choices=())
    extra_vars = forms.CharField(
        required=False,
        label="Extra vars",
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono", "spellcheck": "false"}),
        help_text='a JSON object, e.g. {"pkg": "nginx"}; prompt values are added to it',
    )
    # data-chips: static/js/select-chips.js shows it as chips (no Ctrl-click to choose several).
    servers = forms.MultipleChoiceField(
        required=False,
        choices=(),
        widget=forms.SelectMultiple(attrs={"size": 6, "data-chips": "", "data-chips-noun": "a server"}),
    )
    tags = forms.CharField(required=False, max_length=4000, help_text="every server with one of these tags")
    timeout = forms.IntegerField(required=False, label="Timeout (seconds)", help_text="blank: the default")
    working_dir = forms.CharField(required=False, max_length=4096, strip=False, label="Working folder")
    notify_on = forms.ChoiceField(choices=NotifyOn.choices, label="Notify", initial=NotifyOn.NEVER)
    webhook_url = forms.CharField(required=False, max_length=2000, label="Webhook URL")
    webhook_format = forms.ChoiceField(choices=WebhookFormat.choices, label="Webhook format")
    webhook_secret = forms.CharField(
        required=False,
        strip=False,
        max_length=1000,
        label="Webhook secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="signs each delivery (HMAC-SHA256); never shown again",
    )
    clear_webhook_secret = forms.BooleanField(required=False, label="Remove the stored secret")
    notify_emails = forms.CharField(
        required=False, max_length=1000, label="Email addresses", help_text="comma-separated"
    )

    def __init__(self, *args, template: JobTemplate | None = None, user=None, **kwargs):
        self.template = template
        if template is not None and not args and "data" not in kwargs:
            kwargs["initial"] = _initial(template)
        super().__init__(*args, **kwargs)
        self.fields["playbook"].choices = [("", "—"), *((p.name, p.name) for p in list_playbooks())]
        servers = Server.objects.all() if user is None else usable_servers(user)  # only where they may aim it
        self.fields["servers"].choices = [(n, n) for n in servers.order_by("name").values_list("name", flat=True)]
        if template is not None and template.has_webhook_secret:
            self.fields["webhook_secret"].help_text = "a secret is stored: blank keeps it; never shown again"
        self.prompt_rows = self._read_prompt_rows() if self.is_bound else self._initial_prompt_rows()
        self.prompt_error = ""
        self.cleaned_prompts: list[dict] = []

    # -- prompt rows: p<i>_name, p<i>_label, p<i>_type, p<i>_required, p<i>_default, p<i>_choices
    def _initial_prompt_rows(self) -> list[dict]:
        rows = []
        for p in (self.template.prompts or []) if self.template else []:
            default = p.get("default")
            rows.append(
                {
                    "name": p["name"],
                    "label": p.get("label") or "",
                    "type": p.get("type", "text"),
                    "required": bool(p.get("required")),
                    "default": "" if default is None else str(default),
                    "choices": "\n".join(p.get("choices") or []),
                }
            )
        return self._numbered(rows + [_blank_row() for _ in range(BLANK_PROMPT_ROWS)])

    def _read_prompt_rows(self) -> list[dict]:
        try:
            count = int(self.data.get("prompt_rows", 0))
        except ValueError:
            count = 0
        count = max(0, min(count, prompt_rules.MAX_PROMPTS + BLANK_PROMPT_ROWS))
        rows = []
        for i in range(count):
            get = lambda key, i=i: str(self.data.get(f"p{i}_{key}", ""))  # noqa: E731
            rows.append(
                {
                    "name": get("name").strip(),
                    "label": get("label").strip(),
                    "type": get("type") or "text",
                    "required": bool(self.data.get(f"p{i}_required")),
                    "default": get("default"),
                    "choices": get("choices"),
                }
            )
        return self._numbered(rows)

    @staticmethod
    def _numbered(rows: list[dict]) -> list[dict]:
        for i, row in enumerate(rows):
            row["index"], row["error"] = i, ""
        return rows

    def _prompt_definitions(self) -> list[tuple[dict, dict]]:
        """(row, definition) for every row that is not blank, in page order."""
        out = []
        for row in self.prompt_rows:
            if not (row["name"] or row["label"] or row["default"] or row["choices"].strip()):
                continue
            definition = {"name": row["name"], "type": row["type"], "required": row["required"]}
            if row["label"]:
                definition["label"] = row["label"]
            if row["default"] != "":
                definition["default"] = row["default"]
            choices = [c.strip() for c in row["choices"].splitlines() if c.strip()]
            if choices or row["type"] == "choice":
                definition["choices"] = choices
            out.append((row, definition))
        return out

    def _check_prompts(self) -> bool:
        pairs = self._prompt_definitions()
        try:
            self.cleaned_prompts = prompt_rules.clean_prompts([d for _, d in pairs])
            return True
        except JobInputError as exc:
            message = str(exc)
        self.prompt_error = message
        # Show it on the row it is about too (the messages name the prompt, or its position).
        for position, (row, definition) in reversed(list(enumerate(pairs, 1))):
            name = definition["name"]
            if f"Prompt {position}:" in message or (
                name and (f"Prompt {name!r}" in message or message.startswith(f"{name}:"))
            ):
                row["error"] = message
                break
        self.add_error(None, "Check the prompts: " + message)
        return False

    # -- the rules, one field at a time
    def clean(self):
        data = super().clean()
        self._rule("name", lambda v: services.clean_name(v, template=self.template))
        self._rule("tags", services.clean_tags)
        self._rule("working_dir", lambda v: validate_working_dir(v or None))
        self._rule("webhook_url", services.clean_webhook_url)
        self._rule("notify_emails", services.clean_emails)
        if data.get("timeout") is not None:
            limits = {"default": settings.JOB_DEFAULT_TIMEOUT, "maximum": settings.JOB_MAX_TIMEOUT}
            self._rule("timeout", lambda v: validate_timeout(v, **limits))
        prompts_ok = self._check_prompts()
        kind = data.get("kind")
        if kind == TemplateKind.COMMAND:
            if not (data.get("command") or "").strip():
                self.add_error("command", "Give the command to run.")
            else:
                self._rule("command", validate_command)
                if prompts_ok and "command" in self.cleaned_data:
                    self._rule("command", lambda v: _placeholders_named(v, self.cleaned_prompts))
        elif kind == TemplateKind.PLAYBOOK:
            if not data.get("playbook"):
                self.add_error("playbook", "Choose a playbook.")
            else:
                self._rule("playbook", lambda v: resolve_playbook(v).name)
            self._rule("extra_vars", _extra_vars)
        if data.get("webhook_secret") and data.get("clear_webhook_secret"):
            self.add_error("webhook_secret", "Either give a new secret or remove the stored one, not both.")
        return self.cleaned_data

    def _rule(self, field: str, rule) -> None:
        if field not in self.cleaned_data:
            return  # the field's own check already failed
        try:
            self.cleaned_data[field] = rule(self.cleaned_data[field])
        except JobInputError as exc:
            self.add_error(field, worded(str(exc)))

    def save_arguments(self) -> dict:
        """The keyword arguments of services.save_template."""
        data = self.cleaned_data
        secret = None  # blank keeps the stored one
        if data.get("clear_webhook_secret"):
            secret = ""
        elif data.get("webhook_secret"):
            secret = data["webhook_secret"]
        playbook = data["kind"] == TemplateKind.PLAYBOOK
        return {
            "name": data["name"],
            "kind": data["kind"],
            "description": data.get("description") or "",
            "command": "" if playbook else data.get("command") or "",
            "playbook": (data.get("playbook") or "") if playbook else "",
            "extra_vars": (data.get("extra_vars") or {}) if playbook else {},
            "servers": list(data.get("servers") or []),
            "tags": data.get("tags") or [],
            "timeout": data.get("timeout"),
            "working_dir": data.get("working_dir") or "",
            "prompts": self.cleaned_prompts,
            "notify_on": data["notify_on"],
            "webhook_url": data.get("webhook_url") or "",
            "webhook_format": data["webhook_format"],
            "webhook_secret": secret,
            "notify_emails": data.get("notify_emails") or "",
        }


def _blank_row() -> dict:
    return {"name": "", "label": "", "type": "text", "required": False, "default": "", "choices": ""}


def _initial(template: JobTemplate) -> dict:
    """The form's initial values: the API's view of the template, in the form's text shapes."""
    data = services.template_summary(template)
    data["extra_vars"] = json.dumps(data["extra_vars"], indent=1, ensure_ascii=False) if data["extra_vars"] else ""
    data["tags"] = ", ".join(data["tags"] or [])
    return data


def _placeholders_named(command: str, prompts: list[dict]) -> str:
    prompt_rules.check_placeholders(command, prompts)
    return command


def _extra_vars(text: str) -> dict:
    if not (text or "").strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise JobInputError(f'extra_vars must be a JSON object, like {{"pkg": "nginx"}} ({exc.msg}).') from None
    return validate_extra_vars(value)
