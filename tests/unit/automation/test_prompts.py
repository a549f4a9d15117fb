"""Template prompts (automation/prompts.py): the stored form of prompt definitions, each launch
value coerced to its prompt's type, defaults and required values, and the substitution: every
value reaches the command as one shell word, whatever it holds.

Where a placeholder may sit (quotes, backticks, here-documents…) is automation/placement.py's
rule, tested in tests/unit/automation/test_placement.py; here every placeholder is a plain word."""

from __future__ import annotations

import shlex

import pytest

from automation.prompts import (
    MAX_CHOICES,
    MAX_PROMPTS,
    MAX_VALUE_LENGTH,
    check_placeholders,
    clean_prompts,
    coerce,
    placeholders,
    render_command,
    resolve_values,
)
from jobs.services import JobInputError

TEXT = {"name": "msg", "type": "text", "choices": []}
INTEGER = {"name": "n", "type": "integer", "choices": []}
CHOICE = {"name": "env", "type": "choice", "choices": ["staging", "prod", "1"]}


def prompt(name: str, **fields) -> dict:
    return {"name": name, "label": "", "type": "text", "required": False, "choices": [], "default": None, **fields}


# ---- placeholders --------------------------------------------------------------------------------
def test_placeholders_are_listed_once_in_order_of_first_use():
    assert placeholders("cp {{ src }} {{dst}} && echo {{   src }} {{_x9}}") == ["src", "dst", "_x9"]
    assert placeholders("echo {{ 1x }} {{ a b }} {{}} { a } {{ a-b }}") == []
    assert placeholders(None) == [] and placeholders("") == []


def test_a_command_whose_placeholders_all_name_prompts_passes():
    assert check_placeholders("echo {{ msg }} {{ n }}", [prompt("msg"), prompt("n"), prompt("unused")]) is None


def test_every_unknown_placeholder_is_named_once():
    with pytest.raises(JobInputError) as refused:
        check_placeholders("echo {{ x }} {{ msg }} {{ y }} {{x}}", [prompt("msg")])
    assert str(refused.value) == "The command uses {{ x }}, {{ y }} but no prompt has that name."


def test_a_misplaced_placeholder_is_refused_before_its_name_is_looked_up():
    with pytest.raises(JobInputError, match="inside quotes"):
        check_placeholders('echo "{{ other }}"', [])


# ---- clean_prompts -------------------------------------------------------------------------------
@pytest.mark.parametrize("empty", [None, "", []])
def test_no_prompts(empty):
    assert clean_prompts(empty) == []


def test_a_prompt_is_stored_with_every_field():
    assert clean_prompts([{"name": "msg"}]) == [prompt("msg")]
    assert clean_prompts(
        [
            {"name": "env", "label": "At", "type": "choice", "required": True, "choices": ["a", "b"], "default": "b"},
            {"name": "n", "type": "integer", "default": " -42 "},
            {"name": "t", "type": "text", "default": "", "choices": []},
            {"name": "z", "type": "integer", "default": 0},
        ]
    ) == [
        prompt("env", label="At", type="choice", required=True, choices=["a", "b"], default="b"),
        prompt("n", type="integer", default=-42),
        prompt("t"),
        prompt("z", type="integer", default=0),
    ]


def test_names_up_to_64_characters_and_the_most_prompts_are_accepted():
    name = "_" + "a1" * 31 + "Z"
    assert clean_prompts([{"name": name}])[0]["name"] == name
    assert len(clean_prompts([{"name": f"p{i}"} for i in range(MAX_PROMPTS)])) == MAX_PROMPTS
    big = ["c" * 500] + [f"c{i}" for i in range(MAX_CHOICES - 1)]
    assert clean_prompts([{"name": "c", "type": "choice", "choices": big}])[0]["choices"] == big


@pytest.mark.parametrize(
    ("prompts", "message"),
    [
        ({"name": "x"}, "prompts must be a list"),
        ("x", "prompts must be a list"),
        (5, "prompts must be a list"),
        ([{"name": f"p{i}"} for i in range(MAX_PROMPTS + 1)], f"at most {MAX_PROMPTS} prompts"),
        ([{"name": "a"}, "b"], "Prompt 2 must be an object"),
        ([{"name": "a", "help": "?", "x": 1}], "Prompt 1: unknown field(s) help, x."),
        ([{"type": "text"}], "Prompt 1: the name must be letters"),
        ([{"name": "a"}, {"name": "a"}], "Prompt 'a' is defined twice."),
        ([{"name": "a", "type": "Text"}], "the type must be one of text, integer, choice"),
        ([{"name": "a", "type": None}], "the type must be one of"),
        ([{"name": "a", "required": "yes"}], "required must be true or false"),
        ([{"name": "a", "required": 1}], "required must be true or false"),
        ([{"name": "a", "label": "l" * 201}], "the label must be text of at most 200"),
        ([{"name": "a", "label": 5}], "the label must be text"),
        ([{"name": "a", "type": "choice"}], "a choice prompt needs a list of 1–200 texts"),
        ([{"name": "a", "type": "choice", "choices": []}], "a choice prompt needs"),
        ([{"name": "a", "type": "choice", "choices": "a,b"}], "a choice prompt needs"),
        ([{"name": "a", "type": "choice", "choices": ["a", ""]}], "a choice prompt needs"),
        ([{"name": "a", "type": "choice", "choices": ["a", 5]}], "a choice prompt needs"),
        ([{"name": "a", "type": "choice", "choices": ["c" * 501]}], "a choice prompt needs"),
        ([{"name": "a", "type": "choice", "choices": ["c"] * (MAX_CHOICES + 1)}], "a choice prompt needs"),
        ([{"name": "a", "choices": ["x"]}], "only a choice prompt has choices"),
        ([{"name": "a", "type": "choice", "choices": ["x"], "default": "y"}], "a: 'y' is not one of x."),
        ([{"name": "a", "type": "integer", "default": "ten"}], "a: expected a whole number"),
        ([{"name": "a", "default": "nul\x00"}], "a: NUL characters are not allowed"),
        ([{"name": "a", "default": False}], "a: expected text, got False"),
    ],
)
def test_a_wrong_definition_is_refused_saying_what_is_wrong(prompts, message):
    with pytest.raises(JobInputError) as refused:
        clean_prompts(prompts)
    assert message in str(refused.value)


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a b", "é", "a" * 65, "abc\n", None, 5, ["a"]])
def test_a_name_that_cannot_be_a_placeholder_is_refused(name):
    with pytest.raises(JobInputError, match="the name must be letters, digits and '_'"):
        clean_prompts([{"name": name}])


# ---- coerce --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "number"),
    [(5, 5), (-3, -3), (0, 0), (5.0, 5), ("42", 42), (" -7 ", -7), ("+8", 8), ("9" * 18, int("9" * 18))],
)
def test_an_integer_prompt_takes_whole_numbers(value, number):
    got = coerce(INTEGER, value)
    assert got == number and type(got) is int


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        1.5,
        float("nan"),
        float("inf"),
        "1.5",
        "",
        " ",
        "1e3",
        "0x10",
        "1_000",
        "12abc",
        "9" * 19,
        None,
        [1],
    ],
)
def test_an_integer_prompt_refuses_anything_else(value):
    with pytest.raises(JobInputError, match=r"^n: expected a whole number, got "):
        coerce(INTEGER, value)


@pytest.mark.parametrize(
    ("value", "text"),
    [("hello", "hello"), ("", ""), (5, "5"), (1.5, "1.5"), ("; rm -rf /", "; rm -rf /"), ("x" * 10_000, "x" * 10_000)],
)
def test_a_text_prompt_takes_text_and_numbers_as_text(value, text):
    assert coerce(TEXT, value) == text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "msg: expected text, got True."),
        (None, "msg: expected text, got None."),
        ([], "msg: expected text, got []."),
        (b"bytes", "msg: expected text, got b'bytes'."),
        ("a\x00b", "msg: NUL characters are not allowed."),
        ("x" * (MAX_VALUE_LENGTH + 1), f"msg: at most {MAX_VALUE_LENGTH} characters."),
    ],
)
def test_a_text_prompt_refuses_other_values(value, message):
    with pytest.raises(JobInputError) as refused:
        coerce(TEXT, value)
    assert str(refused.value) == message


def test_a_choice_prompt_takes_only_its_choices_exactly():
    assert coerce(CHOICE, "prod") == "prod"
    assert coerce(CHOICE, 1) == "1", "a number is compared as text"
    for wrong in ("Prod", "prod ", "", "dev"):
        with pytest.raises(JobInputError, match=r"is not one of staging, prod, 1\.$"):
            coerce(CHOICE, wrong)


def test_a_long_wrong_value_is_shown_clipped():
    with pytest.raises(JobInputError) as refused:
        coerce(INTEGER, "z" * 500)
    assert str(refused.value) == "n: expected a whole number, got '" + "z" * 59 + "…."


# ---- resolve_values ------------------------------------------------------------------------------
PROMPTS = clean_prompts(
    [
        {"name": "msg"},
        {"name": "n", "type": "integer"},
        {"name": "env", "type": "choice", "choices": ["staging", "prod"], "default": "staging"},
        {"name": "who", "required": True},
        {"name": "count", "type": "integer", "required": True, "default": 3},
    ]
)


def test_missing_values_take_the_default_or_stay_empty():
    for missing in ({"who": "me"}, {"who": "me", "msg": None, "n": "", "env": None, "count": ""}):
        assert resolve_values(PROMPTS, missing) == {"msg": "", "n": None, "env": "staging", "who": "me", "count": 3}


def test_given_values_are_coerced_and_win_over_defaults():
    got = resolve_values(PROMPTS, {"msg": 7, "n": " 12 ", "env": "prod", "who": "$(id)", "count": 0})
    assert got == {"msg": "7", "n": 12, "env": "prod", "who": "$(id)", "count": 0}


@pytest.mark.parametrize("values", [None, {}, {"msg": "x"}, {"who": ""}])
def test_a_required_value_without_a_default_is_demanded(values):
    with pytest.raises(JobInputError, match=r"^who: a value is required\.$"):
        resolve_values(PROMPTS, values)


@pytest.mark.parametrize(
    ("prompts", "values", "message"),
    [
        (PROMPTS, ["who"], "values must be an object of prompt names to values."),
        (PROMPTS, "who=me", "values must be an object of prompt names to values."),
        (PROMPTS, {"who": "me", "x": 1, "y": 2}, "Unknown prompt(s): x, y. Prompts: msg, n, env, who, count."),
        ([], {"x": 1}, "Unknown prompt(s): x. This template has no prompts."),
        (PROMPTS, {"who": "me", "n": "many"}, "n: expected a whole number, got 'many'."),
        (PROMPTS, {"who": "me", "env": "dev"}, "env: 'dev' is not one of staging, prod."),
    ],
)
def test_wrong_values_are_refused(prompts, values, message):
    with pytest.raises(JobInputError) as refused:
        resolve_values(prompts, values)
    assert str(refused.value) == message


def test_a_template_without_prompts_takes_no_values():
    assert resolve_values([], None) == {} and resolve_values([], {}) == {}


# ---- render_command ------------------------------------------------------------------------------
HOSTILE = [
    *("; rm -rf /", "&& reboot", "| nc host 1", "> /etc/passwd", "# comment", "line\n; reboot\n"),  # commands
    *("$(id)", "`id`", "${HOME}", "$'\\x41'", "!!", "*", "~root", "-rf"),  # expansions, globs, options
    *("'", '"', "''", "a'b", 'a"b', "'; echo \"$(id)\" '", "a\\b", "\\"),  # quotes and backslashes
    *("", " ", "\t", "a\nb", "a b  c", "ünïcödé 😀 中文", "\x1b[31m\x01"),  # blanks, unicode, control
    *("{{ other }}", "\\1", "\\g<0>"),  # what the substitution itself might read
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_value_arrives_as_one_literal_word(value):
    assert shlex.split(render_command("printf %s {{ msg }} done", {"msg": value})) == ["printf", "%s", value, "done"]
    assert shlex.split(render_command("deploy --name={{ msg }}", {"msg": value})) == ["deploy", "--name=" + value]


@pytest.mark.parametrize(("a", "b"), [("; x", "$(y)"), ("'", "'"), ("", ""), ("a b", "\n")])
def test_adjacent_placeholders_make_one_word(a, b):
    assert shlex.split(render_command("echo {{ a }}{{ b }}", {"a": a, "b": b})) == ["echo", a + b]


def test_a_value_is_not_read_again_as_a_placeholder():
    rendered = render_command("echo {{ a }} {{ b }}", {"a": "{{ b }}", "b": "X"})
    assert shlex.split(rendered) == ["echo", "{{ b }}", "X"]


def test_every_use_of_a_placeholder_gets_the_value_in_any_spacing():
    rendered = render_command("cp {{msg}} {{   msg   }}.bak", {"msg": "my file"})
    assert shlex.split(rendered) == ["cp", "my file", "my file.bak"]


@pytest.mark.parametrize(("values", "word"), [({"n": 0}, "0"), ({"n": -3}, "-3"), ({"n": None}, ""), ({}, "")])
def test_numbers_render_as_digits_and_a_missing_value_as_an_empty_word(values, word):
    assert shlex.split(render_command("seq {{ n }} end", values)) == ["seq", word, "end"]


def test_the_rest_of_the_command_is_left_as_written():
    command = "set -e; echo 'lit {x}' \"$HOME\" {{ msg }} | tee /tmp/out  # done"
    assert render_command(command, {"msg": "v"}) == command.replace("{{ msg }}", "v")
    assert render_command("uptime", {"msg": "unused"}) == "uptime"


def test_a_launch_from_definition_to_command():
    prompts = clean_prompts([{"name": "n", "type": "integer", "default": 2}, {"name": "target", "required": True}])
    values = resolve_values(prompts, {"target": "web 1; reboot"})
    assert render_command("ping -c {{ n }} {{ target }}", values) == "ping -c 2 'web 1; reboot'"
