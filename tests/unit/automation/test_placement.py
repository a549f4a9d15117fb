"""Where a `{{ name }}` sits in a command (automation/placement.py) and what prompts.py does with
it: a plain word is accepted; inside quotes, backticks, a here-document, a comment, `${…}`,
arithmetic, `[[ … ]]` or a subscript the value would be read again, so the command is refused
at save time and at launch, with the fix in the message."""

from __future__ import annotations

import pytest

from automation.placement import misplaced, placements
from automation.prompts import check_placeholders, explain, render_command
from jobs.services import JobInputError

PROMPTS = [{"name": n, "type": "text"} for n in ("msg", "a", "b", "n", "src", "dst", "pattern")]

ACCEPTED = [
    "echo {{ msg }}",
    "echo {{msg}}",
    "printf '%s\\n' {{ msg }}",
    "deploy --name={{ msg }} --force",
    "cp {{ src }} /tmp/{{ dst }}.bak",
    "echo {{ a }}{{ b }}",
    'echo "$(echo {{ msg }})"',
    "echo $(printf %s {{ msg }})",
    "diff <(echo {{ a }}) <(echo {{ b }})",
    'x={{ msg }}; echo "$x"',
    "echo 'literal' {{ msg }} \"also literal\"",
    'echo "it\'s" {{ msg }}',  # a ' inside "…" opens nothing
    'echo \\"{{ msg }}',  # an escaped quote is a character, not an opening
    "echo a#b {{ msg }}",  # '#' inside a word is no comment
    "echo $# {{ msg }}",
    "echo ok # a comment\necho {{ msg }}",
    "cat <<EOF\nfixed text with 'quotes' and \"more\nEOF\necho {{ msg }}",
    "cat <<-EOF\n\tbody\n\tEOF\necho {{ msg }}",
    "cat <<'EOF'\nbody\nEOF\necho {{ msg }}",
    "cat <<< {{ msg }}",
    "case {{ msg }} in a) echo {{ msg }};; esac",
    "[ {{ msg }} = yes ] && echo ok",
    "echo \\\n  {{ msg }}",  # a line continuation
    "if true; then echo {{ msg }}; fi",
    "ls '/var/log' | grep -e {{ pattern }}",
    "echo ${HOME} $((1 + 2)) {{ msg }}",
    "echo \"${x:-'}'}\" {{ msg }}",  # bash and dash end ${…} differently; both leave a word
    "{ echo {{ msg }}; }",
    "echo {{ not a placeholder }} {{ msg }}",
]

REFUSED = [
    ('echo "{{ msg }}"', "dq"),
    ("echo '{{ msg }}'", "sq"),
    ('echo "Hello, {{ msg }}!"', "dq"),
    ("echo $'{{ msg }}'", "ansi"),
    ('echo $"{{ msg }}"', "dq"),
    ('echo "$(echo "{{ msg }}")"', "dq"),
    ("echo \"$(echo '{{ msg }}')\"", "sq"),
    ("echo `echo {{ msg }}`", "bq"),
    ('echo "`echo {{ msg }}`"', "bq"),
    ("cat <<EOF\n{{ msg }}\nEOF", "heredoc"),
    ("cat <<'EOF'\n{{ msg }}\nEOF", "heredoc"),  # literal, but a line EOF in the value ends it
    ("cat <<-EOF\n\t{{ msg }}\n\tEOF", "heredoc"),
    ("cat <<A <<B\na\nA\nsecond {{ msg }}\nB", "heredoc"),
    ("cat <<{{ msg }}\nx", "marker"),
    ("echo ok # {{ msg }}", "comment"),
    ("echo ok;#{{ msg }}", "comment"),
    ("echo \\{{ msg }}", "backslash"),
    ("echo ${{ msg }}", "dollar"),
    ("echo ${x:-{{ msg }}}", "param"),
    ('echo "${x:-{{ msg }}}"', "param"),
    ("echo $(( {{ n }} + 1 ))", "arith"),
    ("(( {{ n }} > 1 ))", "arith"),
    ("echo $[ {{ n }} + 1 ]", "arithb"),
    ("[[ {{ n }} -eq 1 ]]", "dbracket"),
    ("a[{{ n }}]=1", "subscript"),
    ("declare a[{{ n }}]=1", "subscript"),
    ('echo "never closed {{ msg }}', "dq"),
    # After `\<newline>` the '#' starts a comment, so the next line's ' opens a string.
    ("echo a \\\n#'\n' {{ msg }} '", "sq"),
    # An escaped blank joins the '#' to its word: no comment, the ' opens a string.
    ("echo a\\ #'\n{{ msg }}'", "sq"),
    # bash ends $'a\'' at the second quote; dash reads '…\' and then ' {{ msg }} ' as quoted.
    ("echo $'a\\'' {{ msg }} '", "sq"),
]


@pytest.mark.parametrize("command", ACCEPTED)
def test_a_placeholder_that_is_a_word_is_accepted(command):
    found = placements(command)
    assert found and all(p.safe for p in found), [(p.name, p.where) for p in found]
    assert explain(command) is None
    check_placeholders(command, PROMPTS)


@pytest.mark.parametrize(("command", "where"), REFUSED)
def test_a_placeholder_the_shell_reads_again_is_refused(command, where):
    bad = misplaced(command)
    assert [p.where for p in bad][:1] == [where]
    message = explain(command)
    assert message.startswith("The placeholder {{ " + bad[0].name + " }} ")
    with pytest.raises(JobInputError) as refused:
        check_placeholders(command, PROMPTS)
    assert str(refused.value) == message


def test_each_placeholder_is_judged_on_its_own():
    command = 'echo "$(echo {{ a }}) {{ b }}" {{ msg }}'
    assert [(p.name, p.where) for p in placements(command)] == [("a", "word"), ("b", "dq"), ("msg", "word")]


@pytest.mark.parametrize(
    ("command", "fixed"),
    [
        ('echo "{{ msg }}"', "echo {{ msg }}"),
        ("echo '{{ msg }}'", "echo {{ msg }}"),
        ('echo "Hello {{ msg }}, {{ b }}!" > /tmp/x', 'echo "Hello "{{ msg }}", "{{ b }}"!" > /tmp/x'),
        ("echo $'tab\\t{{ msg }}'", "echo $'tab\\t'{{ msg }}"),
        ('echo $"{{ msg }}"', "echo {{ msg }}"),
        ('echo "$(echo {{ a }}) {{ b }}"', 'echo "$(echo {{ a }}) "{{ b }}'),
    ],
)
def test_the_message_shows_the_command_with_the_placeholder_out_of_the_quotes(command, fixed):
    bad = misplaced(command)[0]
    shown = command[bad.region[0] : bad.region[1]]
    assert explain(command) == (
        f"The placeholder {{{{ {bad.name} }}}} is inside quotes ({shown}): write it outside the quotes, as "
        f"{fixed} — LivChat quotes every value itself, and inside quotes a value could close them and run as a command."
    )
    assert not misplaced(fixed)  # the fix it shows is itself accepted


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("echo `echo {{ msg }}`", "write $(…) instead, as echo $(echo {{ msg }})."),
        ("cat <<END\n{{ msg }}\nEND", "here-document (<<END … END)"),
        ("cat <<END\n{{ msg }}\nEND", "as printf '%s\\n' {{ msg }} | command."),
        ("echo ok # {{ msg }}", "in a comment (# {{ msg }}): a value with a line break"),
        (
            "echo \\{{ msg }}",
            "follows a backslash, which would unquote the value (\\{{ msg }}): remove it, as echo {{ msg }}.",
        ),
        ("echo ${{ msg }}", "remove it, as echo {{ msg }}."),
        ("echo $(( {{ n }} * 2 ))", "bash evaluates the value as code"),
        ("[[ {{ n }} -lt 3 ]]", "use [ … ] instead"),
        ("cat <<{{ msg }}\nx", "the end word of a here-document (<<{{ msg }})"),
    ],
)
def test_every_refusal_says_why_and_how_to_write_it(command, says):
    assert says in explain(command)


def test_a_long_command_is_shown_clipped_around_the_placeholder():
    command = 'echo "' + "x" * 300 + "{{ msg }}" + "y" * 300 + '"'
    message = explain(command)
    assert len(message) < 400
    assert "x{{ msg }}y" in message and 'x"{{ msg }}"y' in message


def test_render_quotes_each_value_where_it_is_a_word():
    command = "printf '%s\\n' {{ msg }} --n={{ n }} {{ a }}"
    rendered = render_command(command, {"msg": "$(id); x'y", "n": 5, "a": None})
    assert rendered == "printf '%s\\n' '$(id); x'\"'\"'y' --n=5 ''"


@pytest.mark.parametrize(("command", "where"), REFUSED[:8])
def test_render_refuses_a_stored_command_with_a_misplaced_placeholder(command, where):
    # A template saved before the rule (or written straight to the database) cannot launch.
    with pytest.raises(JobInputError) as refused:
        render_command(command, {"msg": "$(touch /tmp/never)", "n": 1})
    assert str(refused.value) == explain(command)


def test_a_placeholder_naming_no_prompt_is_still_refused():
    with pytest.raises(JobInputError, match=r"uses \{\{ other \}\} but no prompt has that name"):
        check_placeholders("echo {{ other }}", PROMPTS)
