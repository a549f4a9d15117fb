"""The typed output of every MCP tool (published as each tool's output schema)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Line(BaseModel):
    seq: int
    stream: str = Field(description="stdout, stderr or system (LivChat's own lines)")
    level: str = Field(description="DEBUG, INFO, WARNING, ERROR or CRITICAL")
    text: str = Field(description="the line, ANSI escapes removed")
    host: str | None = Field(None, description="playbook lines: the host")
    task: str | None = Field(None, description="playbook lines: the task")
    cut: bool | None = Field(None, description="true when the line was shortened to fit")


class Summary(BaseModel):
    total_lines: int
    error_lines: int = Field(description="lines at ERROR or CRITICAL")
    warning_lines: int
    stderr_lines: int
    duration_s: float | None = Field(None, description="seconds from start to end (or to now while it runs)")


class HostRecap(BaseModel):
    ok: int = 0
    changed: int = 0
    unreachable: int = 0
    failed: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


class FailedTask(BaseModel):
    host: str
    task: str
    message: str = Field(description="the task's msg (or its first stderr line)")
    stderr: str = Field("", description="the task's last stderr lines, when they say more than message")


class FailedHost(BaseModel):
    host: str
    status: str = Field(description="failed, unreachable, timed_out or cancelled")
    exit_code: int | None
    reason: str


class Recap(BaseModel):
    hosts: dict[str, HostRecap]
    failed_tasks: list[FailedTask]


class Approval(BaseModel):
    rule: str = Field(description="the policy that holds the job")
    description: str
    approvers: str = Field(description="the group whose members approve")
    approvals_needed: int
    approvals: int = Field(description="approvals so far")
    who_can_approve: list[str] = Field(description="usernames who may approve (the first 20)")
    requested_by: str
    via: str
    expires_at: str
    outcome: str = Field(description="approved, rejected, expired, or empty while people decide")
    decided_by: str
    reason: str
    url: str = Field(description="the job's page, where approvers decide")
    message: str = Field(description="one sentence to pass to your human")


class FoundJob(BaseModel):
    job_id: str
    status: str
    created_at: str
    servers: list[str]
    match_count: int = Field(description="lines of this job that match")
    lines: list[Line] = Field(description="its first matching lines")
    url: str = Field(description="the job's page at the first matching line")


class FoundJobs(BaseModel):
    jobs: list[FoundJob] = Field(description="newest job first")
    partial: bool = Field(description="the search's time budget ran out: pass cursor to go on")
    cursor: str | None = Field(description="pass back as cursor to read on; null: nothing more")
    omitted_jobs: int = Field(description="matching jobs left out to respect max_bytes")
    hint: str | None = None


class DiffLine(BaseModel):
    seq: int
    text: str


class DiffSide(BaseModel):
    count: int = Field(description="lines on this side of the change")
    from_seq: int | None = Field(description="the side's first seq (null: nothing on this side)")
    lines: list[DiffLine] = Field(description="the first lines of this side")


class DiffHunk(BaseModel):
    host: str | None = None
    removed: DiffSide = Field(description="in the other run (against)")
    added: DiffSide = Field(description="in this run")
    after_seq: dict[str, int]


class JobDiff(BaseModel):
    job_id: str
    against: str
    same: bool
    summary: dict[str, int] = Field(description="added, removed, unchanged lines")
    hosts: dict[str, dict[str, int]] = Field(description="many-server jobs: the summary per host")
    hunk_count: int
    hunks: list[DiffHunk]
    cursor: str | None = Field(description="pass back as cursor for the next changes")
    omitted_hunks: int = 0
    hint: str | None = None


class PolicyCheck(BaseModel):
    decision: str = Field(description="allow, deny or approve (people must approve first)")
    rule: str | None = Field(description="the policy that decided; null: none matched, the default decided")
    description: str
    approvers: str | None
    approvals: int | None
    message: str
    servers: list[str] = Field(description="the servers the targets resolved to")


class JobPage(BaseModel):
    job_id: str
    status: str = Field(
        description="pending, running, succeeded, failed, cancelled, timed_out, awaiting_approval (a policy "
        "holds it for people) or rejected (refused or expired before it ran)"
    )
    exit_code: int | None
    error: str = Field(description="why the job failed, in words (empty when it did not)")
    current_step: str
    progress: int = Field(description="0-100")
    lines: list[Line]
    next_seq: int = Field(description="pass as after_seq to get_job or wait_job to read on from here")
    has_more: bool = Field(description="more matching lines exist beyond this page")
    omitted: int = Field(description="lines left out between the head and the tail to respect max_bytes")
    omitted_from_seq: int | None = None
    omitted_to_seq: int | None = None
    truncated: bool = Field(description="some line was cut to fit")
    summary: Summary
    recap: Recap | None = Field(None, description="playbook jobs that ran: the per-host recap")
    failed_hosts: list[FailedHost] = Field(
        default_factory=list, description="a job on several servers: each one that did not succeed, and why"
    )
    problems: list[Line] = Field(
        default_factory=list,
        description="problem lines (stderr, WARNING or worse): a job that failed, timed out or was cancelled "
        "always carries its last ones; wait_job the new ones since after_seq",
    )
    problem_count: int = Field(0, description="problem lines in that range (get_job(problems=true) reads them all)")
    hint: str | None = Field(None, description="what to call next to read what this answer left out")
    approval: Approval | None = Field(None, description="a job a policy held for approval: who decides, and how")


class ServerInfo(BaseModel):
    name: str
    host: str
    port: int
    username: str
    tags: list[str]
    description: str
    host_key_pinned: bool = Field(description="the host key is pinned; a changed key fails the job")


class ServerList(BaseModel):
    servers: list[ServerInfo]


class PlaybookInfo(BaseModel):
    name: str
    source: str
    description: str


class PlaybookList(BaseModel):
    playbooks: list[PlaybookInfo]


class JobInfo(BaseModel):
    job_id: str
    type: str
    status: str
    servers: list[str]
    what: str = Field(description="the command or the playbook")
    exit_code: int | None
    created_at: str
    finished_at: str | None
    created_by: str | None


class JobList(BaseModel):
    jobs: list[JobInfo]


class Match(BaseModel):
    seq: int
    line: Line
    before: list[Line] = Field(default_factory=list)
    after: list[Line] = Field(default_factory=list)


class SearchResult(BaseModel):
    job_id: str
    pattern: str
    matches: list[Match]
    has_more: bool = Field(description="more matches exist after the last one; pass its seq as after_seq")
    next_seq: int | None
    truncated: bool = Field(description="matches were left out to respect max_bytes")


class RecapResult(BaseModel):
    job_id: str
    status: str
    playbook: str
    recap: Recap | None
    error: str


class PromptInfo(BaseModel):
    name: str
    type: str = Field(description="text, integer or choice")
    required: bool = False
    default: str | int | None = None
    choices: list[str] = Field(default_factory=list)


class TemplateInfo(BaseModel):
    name: str
    description: str
    kind: str = Field(description="command or playbook")
    what: str = Field(description="the command (with {{ prompt }} placeholders) or the playbook")
    servers: list[str]
    tags: list[str]
    prompts: list[PromptInfo]


class TemplateList(BaseModel):
    templates: list[TemplateInfo]
