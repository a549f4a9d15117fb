"""Prompts: the named values a launcher fills, checked like AWX surveys, and the one way a
value reaches a command.

A command names a prompt as `{{ name }}` (spaces inside the braces optional). At launch each
placeholder is replaced by the value passed through `shlex.quote`, so `; rm -rf /` arrives as one
literal argument (so write placeholders outside quotes: `echo {{ msg }}`, not `echo "{{ msg }}"`,
which would print the quotes). There is no expression language: nothing is evaluated on the LivChat host,
and a placeholder that names no prompt is refused when the template is saved. For playbooks the
values become extra vars (which the playbook runner already passes `!unsafe`).
"""

from __future__ import annotations

import re
import shlex

from jobs.services import JobInputError

PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
TYPES = ("text", "integer", "choice")
MAX_PROMPTS = 50
MAX_VALUE_LENGTH = 10_000
MAX_CHOICES = 200


def placeholders(command: str) -> list[str]:
    return list(dict.fromkeys(PLACEHOLDER_RE.findall(command or "")))


def clean_prompts(prompts: object) -> list[dict]:
    """The prompt definitions in their stored form, or JobInputError saying what is wrong."""
    if prompts in (None, ""):
        return []
    if not isinstance(prompts, list):
        raise JobInputError("prompts must be a list of {name, type, required, default, choices}.")
    if len(prompts) > MAX_PROMPTS:
        raise JobInputError(f"A template has at most {MAX_PROMPTS} prompts.")
    cleaned, seen = [], set()
    for i, raw in enumerate(prompts, 1):
        if not isinstance(raw, dict):
            raise JobInputError(f"Prompt {i} must be an object with a name and a type.")
        unknown = set(raw) - {"name", "label", "type", "required", "default", "choices"}
        if unknown:
            raise JobInputError(f"Prompt {i}: unknown field(s) {', '.join(sorted(map(str, unknown)))}.")
        name = raw.get("name")
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise JobInputError(f"Prompt {i}: the name must be letters, digits and '_' (not starting with a digit).")
        if name in seen:
            raise JobInputError(f"Prompt {name!r} is defined twice.")
        seen.add(name)
        kind = raw.get("type", "text")
        if kind not in TYPES:
            raise JobInputError(f"Prompt {name!r}: the type must be one of text, integer, choice.")
        required = raw.get("required", False)
        if not isinstance(required, bool):
            raise JobInputError(f"Prompt {name!r}: required must be true or false.")
        label = raw.get("label") or ""
        if not isinstance(label, str) or len(label) > 200:
            raise JobInputError(f"Prompt {name!r}: the label must be text of at most 200 characters.")
        choices: list[str] = []
        if kind == "choice":
            choices = raw.get("choices") or []
            if (
                not isinstance(choices, list)
                or not choices
                or len(choices) > MAX_CHOICES
                or not all(isinstance(c, str) and c and len(c) <= 500 for c in choices)
            ):
                raise JobInputError(f"Prompt {name!r}: a choice prompt needs a list of 1–{MAX_CHOICES} texts.")
        elif raw.get("choices"):
            raise JobInputError(f"Prompt {name!r}: only a choice prompt has choices.")
        prompt = {"name": name, "label": label, "type": kind, "required": required, "choices": choices}
        default = raw.get("default")
        prompt["default"] = None if default in (None, "") else coerce(prompt, default)
        cleaned.append(prompt)
    return cleaned


def check_placeholders(command: str, prompts: list[dict]) -> None:
    names = {p["name"] for p in prompts}
    missing = [n for n in placeholders(command) if n not in names]
    if missing:
        raise JobInputError(
            f"The command uses {', '.join('{{ ' + n + ' }}' for n in missing)} but no prompt has that name."
        )


def coerce(prompt: dict, value: object):
    """One value for `prompt`, of the prompt's type, or JobInputError."""
    name, kind = prompt["name"], prompt["type"]
    if kind == "integer":
        if isinstance(value, bool):
            raise JobInputError(f"{name}: expected a whole number, got true/false.")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d{1,18}\s*", value):
            return int(value)
        raise JobInputError(f"{name}: expected a whole number, got {_shown(value)}.")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise JobInputError(f"{name}: expected text, got {_shown(value)}.")
    text = str(value)
    if "\x00" in text:
        raise JobInputError(f"{name}: NUL characters are not allowed.")
    if len(text) > MAX_VALUE_LENGTH:
        raise JobInputError(f"{name}: at most {MAX_VALUE_LENGTH} characters.")
    if kind == "choice" and text not in prompt["choices"]:
        raise JobInputError(f"{name}: {_shown(text)} is not one of {', '.join(prompt['choices'])}.")
    return text


def resolve_values(prompts: list[dict], values: object) -> dict:
    """The launch values: given ones checked, defaults filled, required ones demanded."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise JobInputError("values must be an object of prompt names to values.")
    known = {p["name"]: p for p in prompts}
    unknown = [k for k in values if k not in known]
    if unknown:
        hint = f" Prompts: {', '.join(known)}." if known else " This template has no prompts."
        raise JobInputError(f"Unknown prompt(s): {', '.join(map(str, unknown))}.{hint}")
    resolved = {}
    for name, prompt in known.items():
        given = values.get(name)
        if given is None or given == "":
            if prompt["default"] is not None:
                resolved[name] = prompt["default"]
            elif prompt["required"]:
                raise JobInputError(f"{name}: a value is required.")
            else:
                resolved[name] = "" if prompt["type"] != "integer" else None
            continue
        resolved[name] = coerce(prompt, given)
    return resolved


def render_command(command: str, values: dict) -> str:
    """`{{ name }}` → the shell-quoted value (an empty or missing one → '')."""

    def quoted(match: re.Match) -> str:
        value = values.get(match.group(1))
        return shlex.quote("" if value is None else str(value))

    return PLACEHOLDER_RE.sub(quoted, command)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"
