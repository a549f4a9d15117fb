"""The MCPServer: LivChat's tools for AI agents, their input and output schemas and annotations.

One builder serves both transports: `build_server(user=...)` acts for one fixed user (stdio,
`manage.py mcp --user NAME`, and tests); `build_server()` acts for the user the HTTP request's
bearer token names (livchat/mcp/http.py). Every tool returns typed structured content and a
short text rendering.
"""

from __future__ import annotations

import inspect
import re
from typing import Annotated, Any, Literal

from django.conf import settings
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from jobs.log import reader
from jobs.models import JobStatus
from livchat.mcp import diff, policies, render, resources, search, templates, tools
from livchat.mcp.schemas import (
    FoundJobs,
    JobDiff,
    JobList,
    JobPage,
    PlaybookList,
    PolicyCheck,
    RecapResult,
    SearchResult,
    ServerList,
    TemplateList,
)

INSTRUCTIONS = """LivChat runs shell commands and Ansible playbooks on registered servers as background jobs and
keeps every output line. Start work with run_command, run_playbook or launch_template: the answer is the job's
result when it ends within wait_s, else status 'running' and its job_id. Follow a running job with
wait_job(job_id, after_seq=next_seq), again with each answer's next_seq, until the status is final. Answers are
compact: status, counts, progress, the last few lines and the new problem lines (stderr, WARNING or worse,
failed tasks). A job that failed or timed out always says why: its error and exit code, the failed hosts and
tasks, and its last problem lines in `problems`. To read more: get_job(job_id, problems=true) for every problem
line, get_job(job_id, after_seq=...) or wait_job(..., lines=true) for lines in bulk, search_job_log to find
lines. cancel_job stops a job. Answers respect max_bytes: left-out lines are counted in `omitted` and `hint`
says how to read them. Policies guard what runs: check_policy asks first; a job a policy holds answers status
'awaiting_approval' with `approval` (the rule, who can approve, a sentence to pass to your human), and wait_job
waits through the people's decision; a refusal is an error naming the rule and why."""


READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
WAIT = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
RUN = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)

JobId = Annotated[str, Field(description="a job id such as 'remote_exec-1a2b3c4d'", max_length=100)]
ServerName = Annotated[str, Field(description="a server name from list_servers", min_length=1, max_length=100)]
Tail = Annotated[int, Field(ge=0, le=reader.MAX_TAIL, description="how many lines at most")]
MaxBytes = Annotated[int, Field(ge=2000, le=1_000_000, description="the most bytes this answer may hold")]
WaitS = Annotated[float, Field(ge=0, le=300, description="seconds to wait for the job to end before answering")]
AfterSeq = Annotated[int | None, Field(ge=0, description="read forward from this seq (next_seq of an answer)")]


def _answer(model, data: dict, text: str) -> CallToolResult:
    # The data as built (optional line tags absent, not null); the SDK checks it against `model`.
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _page(data: dict, *, said_lines: int = 0) -> CallToolResult:
    return _answer(JobPage, data, render.render_page(data, said_lines=said_lines))


# ---- the tools as agents see them ----------------------------------------------------------------
async def list_servers(ctx: Context) -> Annotated[CallToolResult, ServerList]:
    """The servers you may run work on (name, address, tags, whether the host key is pinned)."""
    data = await tools.list_servers(ctx)
    text = "\n".join(f"{s['name']}: {s['username']}@{s['host']}:{s['port']}" for s in data["servers"])
    return _answer(ServerList, data, text or "No server you may use.")


async def list_playbooks(ctx: Context) -> Annotated[CallToolResult, PlaybookList]:
    """The Ansible playbooks run_playbook can run."""
    data = await tools.list_playbooks_tool(ctx)
    text = "\n".join(f"{p['name']}: {p['description']}" for p in data["playbooks"])
    return _answer(PlaybookList, data, text or "No playbooks.")


async def list_jobs(
    ctx: Context,
    server: Annotated[str | None, Field(description="only jobs on this server", max_length=100)] = None,
    status: Literal[tuple(JobStatus.values)] | None = None,  # type: ignore[valid-type]
    limit: Annotated[int, Field(ge=1, le=200)] = 20,
) -> Annotated[CallToolResult, JobList]:
    """Recent jobs you may see, newest first."""
    data = await tools.list_jobs(ctx, server, status, limit)
    text = "\n".join(f"{j['job_id']} {j['status']} on {', '.join(j['servers'])}: {j['what']}" for j in data["jobs"])
    return _answer(JobList, data, text or "No jobs.")


async def run_command(
    ctx: Context,
    command: Annotated[str, Field(description="a shell command", min_length=1, max_length=100_000)],
    server: Annotated[str | None, Field(description="one server name from list_servers", max_length=100)] = None,
    servers: Annotated[
        list[str] | None, Field(description="run on several servers as one job", max_length=1000)
    ] = None,
    tags: Annotated[
        list[str] | None, Field(description="also every server with one of these tags", max_length=100)
    ] = None,
    forks: Annotated[int | None, Field(ge=1, le=100, description="servers at once (several servers; 10)")] = None,
    succeed_if_any: Annotated[bool, Field(description="several servers: succeed when at least one did")] = False,
    timeout_s: Annotated[int, Field(ge=1, le=settings.JOB_MAX_TIMEOUT, description="the job's own time limit")] = 600,
    working_dir: Annotated[str | None, Field(max_length=4096)] = None,
    wait_s: WaitS = 20,
    tail: Tail = 10,
    max_bytes: MaxBytes = 16000,
) -> Annotated[CallToolResult, JobPage]:
    """Run a shell command as a job on one server, or on several (servers and/or tags: one job, lines
    tagged with their host, get_job(host=...) reads one). Answers with its exit code and last `tail`
    lines when it ends within wait_s (a failure with why: error, failed hosts, problem lines), else
    with status 'running' and the job_id: the job goes on, wait_job(job_id, after_seq=next_seq)
    follows it. Progress notifications carry the latest line while it waits."""
    fleet = tools.Fleet(servers=servers, tags=tags, forks=forks, success="any" if succeed_if_any else "all")
    return _page(
        await tools.run_command(ctx, server, command, timeout_s, working_dir, wait_s, tail, max_bytes, fleet=fleet)
    )


async def run_playbook(
    ctx: Context,
    playbook: Annotated[str, Field(description="a name from list_playbooks", min_length=1, max_length=200)],
    servers: Annotated[list[str], Field(min_length=1, max_length=200, description="server names")],
    extra_vars: dict[str, Any] | None = None,
    check: Annotated[bool, Field(description="Ansible check mode: report, change nothing")] = False,
    wait_s: WaitS = 20,
    tail: Tail = 10,
    max_bytes: MaxBytes = 16000,
) -> Annotated[CallToolResult, JobPage]:
    """Run an Ansible playbook on servers as a job; answers like run_command, with the recap and the
    failed tasks (message and stderr) when it ended."""
    return _page(await tools.run_playbook(ctx, playbook, servers, extra_vars, check, wait_s, tail, max_bytes))


async def get_job(
    ctx: Context,
    job_id: JobId,
    after_seq: AfterSeq = None,
    tail: Tail = 20,
    level: Annotated[
        str | None,
        Field(
            description="minimum level: DEBUG, INFO, WARNING, ERROR "
            "(a playbook task's own output is DEBUG: INFO hides it)"
        ),
    ] = None,
    stream: Annotated[str | None, Field(description="stdout, stderr or system")] = None,
    grep: Annotated[str | None, Field(description="a regular expression lines must match", max_length=500)] = None,
    max_bytes: MaxBytes = 16000,
    host: Annotated[
        str | None, Field(description="only this server's lines (a job on several)", max_length=255)
    ] = None,
    problems: Annotated[
        bool, Field(description="only problem lines: stderr, or WARNING or worse (why a job failed)")
    ] = False,
) -> Annotated[CallToolResult, JobPage]:
    """A job's status, summary and lines: the last `tail` lines, or the first `tail` after after_seq.
    problems=true reads why a job failed; level, stream, grep and host narrow the lines."""
    found = await tools.get_job(
        ctx, job_id, after_seq, tail, level, stream, grep, max_bytes, host=host, problems=problems
    )
    return _page(found, said_lines=render.TEXT_PROBLEMS if problems else 0)


async def wait_job(
    ctx: Context,
    job_id: JobId,
    after_seq: Annotated[int, Field(ge=0, description="the next_seq of the previous answer")] = 0,
    timeout_s: Annotated[float, Field(ge=0, le=300, description="the longest wait, in seconds")] = 30,
    lines: Annotated[
        bool, Field(description="every new line (head and tail within max_bytes), answering once max_bytes came")
    ] = False,
    tail: Annotated[
        int | None, Field(ge=0, le=reader.MAX_TAIL, description="the last `tail` new lines (default 5)")
    ] = None,
    max_bytes: MaxBytes = 16000,
) -> Annotated[CallToolResult, JobPage]:
    """Wait until the job ends or timeout_s passes, then answer compactly: status, counts, progress, the
    last 5 new lines and the problem lines (stderr, WARNING or worse) since after_seq; a job that failed
    says why. Pass next_seq as after_seq to go on. lines=true or tail=N bring lines in bulk. Sends the
    latest line as progress while it waits. Cancelling this call stops the waiting, never the job."""
    return _page(await tools.wait_job(ctx, job_id, after_seq, timeout_s, max_bytes, lines=lines, tail=tail))


async def search_job_log(
    ctx: Context,
    job_id: JobId,
    pattern: Annotated[str, Field(min_length=1, max_length=500, description="a regular expression")],
    context_lines: Annotated[int, Field(ge=0, le=10)] = 0,
    max_matches: Annotated[int, Field(ge=1, le=500)] = 50,
    after_seq: Annotated[int, Field(ge=0, description="search after this seq")] = 0,
    max_bytes: MaxBytes = 16000,
) -> Annotated[CallToolResult, SearchResult]:
    """The lines of a job matching a regular expression, in order, with context lines around each."""
    data = await tools.search_job_log(ctx, job_id, pattern, context_lines, max_matches, after_seq, max_bytes)
    shown = [x for m in data["matches"] for x in [*m["before"], m["line"], *m["after"]]]
    text = f"{len(data['matches'])} matches" + (f"; more after seq {data['next_seq']}" if data["has_more"] else "")
    return _answer(SearchResult, data, text + ".\n" + render.render_lines(shown))


async def cancel_job(ctx: Context, job_id: JobId) -> Annotated[CallToolResult, JobPage]:
    """Cancel a job: its remote process tree is killed. Answers with the final status."""
    return _page(await tools.cancel_job(ctx, job_id))


async def get_playbook_recap(ctx: Context, job_id: JobId) -> Annotated[CallToolResult, RecapResult]:
    """A playbook job's recap: per host ok, changed, unreachable, failed, skipped, rescued, ignored, and the
    failed tasks with their messages."""
    data = await tools.get_playbook_recap(ctx, job_id)
    lines = [
        f"Job {data['job_id']} {data['status']}: {data['playbook']}" + (f": {data['error']}" if data["error"] else "")
    ]
    if data["recap"]:
        for host, counts in data["recap"]["hosts"].items():
            lines.append(f"{host}: " + " ".join(f"{k}={v}" for k, v in counts.items()))
        lines += [f"failed {f['host']}: {f['task']}: {f['message']}" for f in data["recap"]["failed_tasks"]]
    else:
        lines.append("No recap: the playbook has not run to its end.")
    return _answer(RecapResult, data, "\n".join(lines))


# ---- aliases for the original clients ------------------------------------------------------------
async def remote_bash(
    ctx: Context,
    server_name: ServerName,
    command: Annotated[str, Field(min_length=1, max_length=100_000)],
    timeout: Annotated[int, Field(ge=1, le=settings.JOB_MAX_TIMEOUT)] = 60,
    use_job: bool = False,
) -> Annotated[CallToolResult, JobPage]:
    """Alias of run_command: waits up to `timeout` s (at most 300), or not at all with use_job."""
    wait = 0 if use_job else min(timeout, 300)
    return _page(await tools.run_command(ctx, server_name, command, timeout, None, wait, 20, 16000))


async def get_job_status(
    ctx: Context, job_id: JobId, tail_logs: Annotated[int, Field(ge=0, le=reader.MAX_TAIL)] = 20
) -> Annotated[CallToolResult, JobPage]:
    """Alias of get_job: the status and the last tail_logs lines."""
    return _page(await tools.get_job(ctx, job_id, None, tail_logs, None, None, None, 16000))


async def list_templates(ctx: Context) -> Annotated[CallToolResult, TemplateList]:
    """Saved job templates: a command or playbook with its targets and the prompts launch_template fills."""
    data = await templates.list_templates(ctx)
    lines = []
    for t in data["templates"]:
        asks = ", ".join(f"{p['name']} ({p['type']}{', required' if p['required'] else ''})" for p in t["prompts"])
        lines.append(f"{t['name']} [{t['kind']}]: {t['what']}" + (f" — prompts: {asks}" if asks else ""))
    return _answer(TemplateList, data, "\n".join(lines) or "No templates.")


async def launch_template(
    ctx: Context,
    name: Annotated[str, Field(description="a template name from list_templates", min_length=1, max_length=100)],
    values: Annotated[
        dict[str, str | int] | None, Field(description="prompt values by name (shell-quoted into commands)")
    ] = None,
    wait_s: WaitS = 20,
    tail: Tail = 10,
    max_bytes: MaxBytes = 16000,
) -> Annotated[CallToolResult, JobPage]:
    """Launch a job template with its prompt values; answers like run_command (inline when it ends within
    wait_s, else status 'running' and the job_id)."""
    return _page(await templates.launch_template(ctx, name, values, wait_s, tail, max_bytes))


async def check_policy(
    ctx: Context,
    command: Annotated[str | None, Field(description="a shell command you would run", max_length=100_000)] = None,
    playbook: Annotated[str | None, Field(description="or a playbook name from list_playbooks", max_length=200)] = None,
    servers: Annotated[list[str] | None, Field(description="server names", max_length=1000)] = None,
    tags: Annotated[list[str] | None, Field(description="and/or server tags", max_length=100)] = None,
    via: Annotated[
        Literal["mcp", "api", "web", "cli", "schedule"], Field(description="the surface to ask about")
    ] = "mcp",
) -> Annotated[CallToolResult, PolicyCheck]:
    """Would this run, need a person's approval, or be refused? Answers the decision, the rule and why,
    for a command or a playbook on servers and/or tags. Creates nothing."""
    data = await policies.check_policy(ctx, command, playbook, servers, tags, via)
    text = f"{data['decision']} on {', '.join(data['servers'])}: {data['message']}"
    return _answer(PolicyCheck, data, text)


async def search_logs(
    ctx: Context,
    pattern: Annotated[str, Field(description="what to find: a literal substring", min_length=1, max_length=500)],
    regex: Annotated[bool, Field(description="pattern is a regular expression")] = False,
    since: Annotated[str | None, Field(description="only jobs since 24h, 7d … ago, or a date", max_length=40)] = None,
    server: Annotated[str | None, Field(description="only jobs on this server", max_length=100)] = None,
    tag: Annotated[str | None, Field(description="only jobs on servers with this tag", max_length=100)] = None,
    status: Annotated[str | None, Field(description="only jobs with this status, e.g. failed", max_length=20)] = None,
    level: Annotated[
        str | None, Field(description="only lines of this level or worse, e.g. ERROR", max_length=10)
    ] = None,
    limit: Annotated[int, Field(ge=1, le=50, description="jobs at most")] = 10,
    cursor: Annotated[str | None, Field(description="cursor of a previous answer", max_length=100)] = None,
    max_bytes: MaxBytes = 8000,
) -> Annotated[CallToolResult, FoundJobs]:
    """Did this happen before? Searches every job's lines you may see (running ones too), newest job first:
    each job with how many lines match, its first matching lines and a link. What a person sees printed is
    searched (colour codes out)."""
    data = await search.search_logs(ctx, pattern, regex, since, server, tag, status, level, limit, cursor, max_bytes)
    text = "\n".join(
        f"{j['job_id']} {j['status']} {j['created_at'][:16]} on {', '.join(j['servers']) or '-'}: "
        f"{j['match_count']} matching line(s)" + (f", first: {j['lines'][0]['text'][:200]}" if j["lines"] else "")
        for j in data["jobs"]
    )
    text = text or "No job you may see has a matching line."
    if data.get("hint"):
        text += "\n" + data["hint"]
    return _answer(FoundJobs, data, text)


async def diff_job(
    ctx: Context,
    job_id: JobId,
    against: Annotated[
        str, Field(description="another job id, or previous (the last run of the same)", max_length=100)
    ] = "previous",
    cursor: Annotated[str | None, Field(description="cursor of a previous answer", max_length=100)] = None,
    max_bytes: MaxBytes = 8000,
) -> Annotated[CallToolResult, JobDiff]:
    """What changed since the last run (or another run)? Lines compared after normalising timestamps,
    durations, ids and PIDs, host by host; answers a summary (added, removed, unchanged) and the changes
    with both sides' seqs."""
    data = await diff.diff_job(ctx, job_id, against, cursor, max_bytes)
    s = data["summary"]
    text = f"{data['job_id']} against {data['against']}: " + (
        "the same." if data["same"] else f"{s['added']} added, {s['removed']} removed, {s['unchanged']} unchanged."
    )
    for hunk in data["hunks"][:10]:
        where = f"[{hunk['host']}] " if hunk.get("host") else ""
        gone = " / ".join(x["text"][:100] for x in hunk["removed"]["lines"][:2])
        came = " / ".join(x["text"][:100] for x in hunk["added"]["lines"][:2])
        text += f"\n{where}- {gone or '(nothing)'}  + {came or '(nothing)'}"
    if data.get("hint"):
        text += "\n" + data["hint"]
    return _answer(JobDiff, data, text)


TOOLS = (
    (list_servers, "list_servers", READ),
    (list_playbooks, "list_playbooks", READ),
    (list_jobs, "list_jobs", READ),
    (run_command, "run_command", RUN),
    (run_playbook, "run_playbook", RUN),
    (get_job, "get_job", READ),
    (wait_job, "wait_job", WAIT),
    (search_job_log, "search_job_log", READ),
    (cancel_job, "cancel_job", RUN),
    (get_playbook_recap, "get_playbook_recap", READ),
    (remote_bash, "remote-bash", RUN),
    (get_job_status, "get-job-status", READ),
    (list_templates, "list_templates", READ),
    (launch_template, "launch_template", RUN),
    (check_policy, "check_policy", READ),
    (search_logs, "search_logs", READ),
    (diff_job, "diff_job", READ),
)
ARGUMENTS = {name: set(inspect.signature(fn).parameters) - {"ctx"} for fn, name, _ in TOOLS}


async def refuse_unknown_arguments(ctx, call_next):
    """A misspelt argument is an error an agent can fix, not silently ignored."""
    if ctx.method == "tools/call" and isinstance(ctx.params, dict):
        known = ARGUMENTS.get(ctx.params.get("name"))
        given = ctx.params.get("arguments") or {}
        unknown = sorted(set(given) - known) if known is not None and isinstance(given, dict) else []
        if unknown:
            text = (
                f"Unknown argument(s) for {ctx.params['name']}: {', '.join(unknown)}. "
                f"It takes: {', '.join(sorted(known)) or 'no arguments'}."
            )
            return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
    result = await call_next(ctx)
    if isinstance(result, dict) and result.get("isError"):  # the wire form of a CallToolResult
        for block in result.get("content") or []:
            if block.get("type") == "text" and "validation error" in block.get("text", ""):
                block["text"] = plain_validation_error(block["text"])
    return result


_PYDANTIC_HEADER = re.compile(r"^Error executing tool (\S+): \d+ validation errors? for \S+$", re.MULTILINE)
_PYDANTIC_DETAIL = re.compile(r" \[type=[^,\]]+, input_value=(.*?), input_type=[^\]]+\]$", re.MULTILINE)


def plain_validation_error(text: str) -> str:
    """pydantic's report in fewer words: which argument, what is wrong, what was sent."""
    text = _PYDANTIC_HEADER.sub(r"Invalid arguments for \1:", text)
    text = _PYDANTIC_DETAIL.sub(lambda m: f" (got {m.group(1)[:80]})", text)
    return "\n".join(line for line in text.splitlines() if "errors.pydantic.dev" not in line)


def build_server(*, user=None, scope: str | None = None) -> MCPServer:
    """The MCP server; with `user`, every call acts as that user (re-read per call; `scope`
    'read' limits it like a read token), else as the HTTP request's bearer-token user."""
    mcp = MCPServer("livchat", instructions=INSTRUCTIONS, middleware=[refuse_unknown_arguments])
    mcp.livchat_identity = (user.pk, scope) if user is not None else None
    for fn, name, hints in TOOLS:
        mcp.add_tool(fn, name=name, annotations=hints)
    resources.register(mcp)
    return mcp
