"""The short text beside each structured answer: what a careful operator would say.

A client sends its model either the text or the structured content (some send both: README,
"What reaches the model"), so each carries the same facts: the status, the counts and, when a
job went wrong, why: its error (which names each failed host and its reason), the failed tasks'
stderr, the last problem lines. The lines an answer holds live in the structured content only:
the text names how many and where, so a client that sends both does not pay for them twice.
"""

from __future__ import annotations

from jobs.models import JobStatus

TEXT_PROBLEMS = 3  # the last problem lines also said in words (all are in `problems`)


def status_words(data: dict) -> str:
    label = str(JobStatus(data["status"]).label).lower()
    text = f"Job {data['job_id']} {label}"
    if data.get("exit_code") is not None:
        text += f" (exit code {data['exit_code']})"
    s = data["summary"]
    if s.get("duration_s") is not None:
        text += f" after {s['duration_s']:g} s"
    text += f": {data['error']}" if data.get("error") else "."
    return text


def render_lines(lines: list[dict]) -> str:
    out = []
    for line in lines:
        tags = f" [{line['host']}]" if line.get("host") else ""
        out.append(f"{line['seq']} {line['level']} {line['stream']}{tags}: {line['text']}")
    return "\n".join(out)


def render_page(data: dict, *, said_lines: int = 0) -> str:
    """The text of a job page; `said_lines` of its last lines are said in words too (a page of
    problem lines: they are the reason)."""
    s = data["summary"]
    head = [
        status_words(data),
        f"{s['total_lines']} lines ({s['error_lines']} at ERROR, {s['warning_lines']} at WARNING, "
        f"{s['stderr_lines']} on stderr). next_seq={data['next_seq']}.",
    ]
    if data.get("current_step") and data["status"] in (JobStatus.PENDING, JobStatus.RUNNING):
        head.append(f"Now: {data['current_step']} ({data['progress']} %).")
    if data.get("approval"):
        head.append(data["approval"]["message"])
    if data.get("recap"):
        counts = [f"{h} " + " ".join(f"{k}={v}" for k, v in c.items() if v) for h, c in data["recap"]["hosts"].items()]
        head.append("recap: " + "; ".join(counts))
        for task in data["recap"]["failed_tasks"]:
            if task.get("stderr"):  # the message is in the error already; its stderr is not
                head.append(f"{task['host']} {task['task']} stderr: " + " / ".join(task["stderr"].splitlines()))
    shown = data.get("problems") or (data["lines"] if said_lines else [])
    if shown:
        count = data.get("problem_count") or len(shown)
        said = shown[-(said_lines or TEXT_PROBLEMS) :]
        head.append(f"Last problem lines ({len(said)} of {count}):")
        head.append(render_lines(said))
    if data["lines"]:
        first, last = data["lines"][0]["seq"], data["lines"][-1]["seq"]
        n = len(data["lines"])
        head.append(f"{n} line{'s' if n != 1 else ''} (seq {first}-{last}) in the structured content's `lines`.")
    if data.get("hint"):
        head.append(data["hint"])
    return "\n".join(head)
