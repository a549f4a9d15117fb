"""Prompts: the named values a launcher fills, checked like AWX surveys, and the one way a
value reaches a command.

A command names a prompt as `{{ name }}` (spaces inside the braces optional). At launch each
placeholder is replaced by the value passed through `shlex.quote`, so `; rm -rf /` or `$(id)`
arrives as one literal argument. That holds only where the shell reads the placeholder as a
word of a command: `echo {{ msg }}`, `--name={{ msg }}`, `$(echo {{ msg }})`. Inside quotes
("…", '…', $'…') the value's own quote would close them and the rest run as a command, and
in backticks, a here-document, a comment, `${…}`, arithmetic or `[[ … ]]` the shell reads the
value again. So such a placement (automation/placement.py finds it) is refused when the
template is saved, and again at launch for a template stored before this rule: the message
shows the command rewritten with the placeholder outside the quotes.

A program that itself runs its argument as code (`eval`, `sh -c`, `ssh host`, `let`) receives
the value literally and then runs it: that is the template's choice, as it would be with a
typed-in argument. There is no expression language: nothing is evaluated on the LivChat host,
and a placeholder that names no prompt is refused when the template is saved. For playbooks
the values become extra vars (which the playbook runner already passes `!unsafe`).
"""

from __future__ import annotations

import re
import shlex

from automation.placement import PLACEHOLDER_RE, Placement, placements
from jobs.services import JobInputError

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
    """Every placeholder names a prompt and sits where its value stays one literal word."""
    check_placement(command)
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


def check_placement(command: str) -> None:
    problem = explain(command)
    if problem:
        raise JobInputError(problem)


def render_command(command: str, values: dict) -> str:
    """`{{ name }}` → the shell-quoted value (an empty or missing one → '').

    A command saved before placements were checked is checked here too: it does not run."""
    check_placement(command)

    def quoted(match: re.Match) -> str:
        value = values.get(match.group(1))
        return shlex.quote("" if value is None else str(value))

    return PLACEHOLDER_RE.sub(quoted, command)


# ---- what to tell the author ---------------------------------------------------------------------
CLIP = 70


def explain(command: str) -> str | None:
    """The first misplaced placeholder of `command`, said with the fix; None when all are words."""
    found = placements(command)
    bad = next((p for p in found if not p.safe), None)
    if bad is None:
        return None
    ph = "{{ " + bad.name + " }}"
    start, end = bad.region
    shown = _clip(command, start, end, focus=(bad.start, bad.end))
    if bad.where in ("dq", "sq", "ansi"):
        same = [p for p in found if p.frame_id == bad.frame_id]
        fixed = _as(command, start, end, _unquoted(command, bad, same), bad)
        return (
            f"The placeholder {ph} is inside quotes ({shown}): write it outside the quotes, as {fixed} "
            "— LivChat quotes every value itself, and inside quotes a value could close them and run as a command."
        )
    if bad.where == "bq":
        fixed = _as(command, start, end, "$(" + command[start + 1 : end - 1] + ")", bad)
        return (
            f"The placeholder {ph} is inside backticks ({shown}), where the shell reads the value a second time: "
            f"write $(…) instead, as {fixed}."
        )
    if bad.where in ("backslash", "dollar"):
        fixed = _as(command, start, end, command[start + 1 : end], bad)
        what = {
            "backslash": "a backslash, which would unquote the value",
            "dollar": "a $, which would make the value a variable name or $'…' text",
        }[bad.where]
        return f"The placeholder {ph} follows {what} ({shown}): remove it, as {fixed}."
    if bad.where == "heredoc":
        word = bad.opener[2:] or "EOF"
        return (
            f"The placeholder {ph} is inside a here-document (<<{word} … {word}), where the shell expands $(…) "
            f"in the value and a line {word} in it would end the document early: pass the value as an argument "
            f"instead, as printf '%s\\n' {ph} | command."
        )
    reasons = {
        "param": f"inside ${{…}} ({shown}), where shells disagree about quotes and a value can end it early: "
        f'set a variable first and use that, as v={ph}; echo "${{x:-$v}}"',
        "arith": f"inside arithmetic ({shown}), where bash evaluates the value as code (a[$(cmd)] runs cmd): "
        f"do the sum outside it, as expr {ph} + 1",
        "dbracket": f"inside [[ … ]] ({shown}), where bash evaluates the operands of -eq, -lt and the like "
        f"as code: use [ … ] instead, as [ {ph} = yes ]",
        "subscript": f"inside an array subscript or a [ … ] pattern ({shown}), which bash evaluates as code: "
        "keep prompt values out of subscripts",
        "marker": f"the end word of a here-document ({shown}): write a fixed word there, as <<EOF",
        "comment": f"in a comment ({shown}): a value with a line break would end the comment and run as "
        "commands; take it out of the comment",
    }
    reasons["arithb"] = reasons["arith"]
    reason = reasons.get(bad.where, f"somewhere the shell may not read it as one word ({shown}): write it as a word")
    return f"The placeholder {ph} is {reason}."


def _unquoted(command: str, bad: Placement, same: list[Placement]) -> str:
    """The quoted string with each of its placeholders moved out: "a {{ x }} b" → "a "{{ x }}" b"."""
    start, end = bad.region
    opener, closer = bad.opener, bad.opener[-1]
    inner_end = end - 1 if end - start > len(opener) and command[end - 1] == closer else end
    pieces, pos = [], start + len(opener)
    for p in sorted(same, key=lambda p: p.start):
        if command[pos : p.start]:
            pieces.append(opener + command[pos : p.start] + closer)
        pieces.append(command[p.start : p.end])
        pos = p.end
    if command[pos:inner_end]:
        pieces.append(opener + command[pos:inner_end] + closer)
    return "".join(pieces)


def _as(command: str, start: int, end: int, replacement: str, bad: Placement) -> str:
    """The command's line(s) around [start, end) with that span replaced, clipped around `bad`."""
    fixed = command[:start] + replacement + command[end:]
    at = start + max(0, replacement.find(command[bad.start : bad.end]))
    return _clip(fixed, start, start + len(replacement), focus=(at, at + bad.end - bad.start), whole_lines=True)


def _clip(text: str, start: int, end: int, *, focus: tuple[int, int], whole_lines: bool = False) -> str:
    if whole_lines:
        start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        end = len(text) if line_end < 0 else line_end
    part = text[start:end]
    if len(part) > CLIP:
        middle = (max(focus[0], start) + min(focus[1], end)) // 2 - start
        left = max(0, min(middle - CLIP // 2, len(part) - CLIP))
        part = ("…" if left else "") + part[left : left + CLIP] + ("…" if left + CLIP < len(part) else "")
    return part.replace("\n", "\\n")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"
