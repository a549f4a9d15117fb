"""The launch form of a template page: one field per prompt, plus "notify"."""

from __future__ import annotations

from django import forms

from automation.models import NotifyOn

MAX_TEXT = 10_000


class LaunchForm(forms.Form):
    notify = forms.ChoiceField(
        required=False,
        label="Notify",
        choices=[("", "as the template says"), *NotifyOn.choices],
        help_text="Override the template's notifications for this run.",
    )

    def __init__(self, *args, prompts: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        self.prompt_names = []
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
            self.fields[f"prompt_{name}"] = field
            self.prompt_names.append(name)
        # Prompts first, then notify.
        self.order_fields([f"prompt_{n}" for n in self.prompt_names] + ["notify"])

    def prompt_fields(self):
        return [self[f"prompt_{n}"] for n in self.prompt_names]

    def values(self) -> dict:
        data = self.cleaned_data
        return {n: data[f"prompt_{n}"] for n in self.prompt_names if data.get(f"prompt_{n}") not in (None, "")}
