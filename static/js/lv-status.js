// The strip above the log pane and the notice under it.
//  StatusBar: the job's status badge, progress, step, exit code, line count, error text,
//    the problems count and the cancel button (the only part that acts: it asks the API
//    to cancel). A command has no steps to count: its bar is indeterminate while it runs;
//    a playbook's bar is its task progress, kept as reached when it fails or is cancelled.
//    Once the job ended the step line says how it ended ("Finished in 12 s"), not the last
//    task it was on (that stays only when it tells where a playbook stopped).
//    The problems count is red only for what is a problem: a WARNING or worse line, or a job
//    that failed. stderr alone is not (plenty of tools write progress there and succeed).
//  Notice: one message line (loading, list summaries, errors), sticky or fading.
import { setClock } from "./clock.js";
import { FINAL_STATUSES, setBadge } from "./common.js";

const NOTICE_MS = 8000;
const FAILED = new Set(["failed", "timed_out"]);
const ENDED = {
  succeeded: "Finished in",
  failed: "Failed after",
  cancelled: "Cancelled after",
  timed_out: "Timed out after",
};

// "12 s", "3 min 5 s", "2 h 7 min"; "" without both times.
function elapsed(startedAt, finishedAt) {
  const seconds = Math.round((new Date(finishedAt) - new Date(startedAt)) / 1000);
  if (!startedAt || !finishedAt || !(seconds >= 0)) return "";
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

export class Notice {
  constructor(el) {
    this.element = el;
    this.timer = 0;
  }

  show(text, kind = "info", sticky = false) {
    this.element.textContent = text;
    this.element.dataset.kind = kind;
    this.element.hidden = false;
    clearTimeout(this.timer);
    if (!sticky) this.timer = setTimeout(() => this.hide(), NOTICE_MS);
  }

  hide() {
    this.element.hidden = true;
  }
}

export class StatusBar {
  // elements: the viewer's [data-lv] map (status, cancel, progress, progress-bar, step,
  // exit, lines, error). boot: the page's boot data (status, line_count, can_cancel).
  constructor({ elements, boot, jobId, api, notice }) {
    this.badge = elements.status;
    this.cancelButton = elements.cancel;
    this.progressText = elements.progress;
    this.progressBar = elements["progress-bar"];
    this.stepText = elements.step;
    this.exitText = elements.exit;
    this.linesText = elements.lines;
    this.errorText = elements.error;
    this.progressBox = elements["progress-box"];
    this.problemText = elements["problem-count"];
    this.problemButton = elements.problems;
    Object.assign(this, { jobId, api, notice });
    this.canCancel = Boolean(boot.can_cancel);
    this.current = boot.status;
    this.lineCount = boot.line_count;
    this.commandLike = boot.job_type !== "playbook"; // no task progress to show
    this.progress = boot.progress || 0;
    this.step = boot.current_step || "";
    this.problems = Number.isInteger(boot.problems) ? boot.problems : null;
    this.severe = false; // a WARNING or worse line is among the problems
    this.startedAt = boot.started_at || null;
    this.finishedAt = boot.finished_at || null;
  }

  bind() {
    this.cancelButton.addEventListener("click", () => this.cancel());
    this._paintProblems();
    // The page counted problems before it opened: are any of them WARNING or worse?
    if (this.problems) {
      this.api
        .logs({ level: "WARNING", tail: 1 })
        .then((res) => this.addProblems(0, res.count > 0))
        .catch(() => {}); // left neutral: the count itself is right
    }
  }

  status() {
    return this.current;
  }

  isFinal() {
    return FINAL_STATUSES.has(this.current);
  }

  // A status payload (boot data, socket status, the job from the API): shows the fields it has.
  show(state) {
    if (state.status) {
      this.current = state.status;
      setBadge(this.badge, state.status);
      this.cancelButton.hidden = this.isFinal() || !this.canCancel;
    }
    if (state.progress !== undefined) this.progress = state.progress;
    if (state.current_step !== undefined) this.step = state.current_step || "";
    if (state.started_at !== undefined) this.startedAt = state.started_at;
    if (state.finished_at !== undefined) this.finishedAt = state.finished_at;
    this._showProgress();
    if (state.exit_code !== undefined) this.exitText.textContent = state.exit_code === null ? "–" : state.exit_code;
    if (state.error !== undefined) {
      this.errorText.textContent = state.error || "";
      this.errorText.hidden = !state.error;
    }
  }

  _showProgress() {
    const status = this.current;
    const percent = Math.max(0, Math.min(100, this.progress));
    const running = status === "running";
    // A command: indeterminate while running, full once it ended (its colour says how).
    const indeterminate = this.commandLike && running;
    const width = this.commandLike ? (this.isFinal() ? 100 : 0) : percent;
    if (this.progressBox) {
      this.progressBox.classList.toggle("lv-indeterminate", indeterminate);
      this.progressBox.dataset.status = status;
      this.progressBox.title = this._progressTitle(percent);
    }
    this.progressBar.style.width = indeterminate ? "" : `${width}%`;
    this.progressText.textContent = this.commandLike ? "" : `${percent}%`;
    this.progressText.hidden = this.commandLike;
    // A pending job says why it waits (jobs/slots.py writes the reason as its step).
    let step = this.step;
    if (status === "pending" && !step) step = "Queued: waiting for a worker to start it.";
    if (status === "awaiting_approval" && !step) step = "Waiting for approval: it runs once approved.";
    if (this.isFinal()) step = this._endWords();
    this.stepText.textContent = step;
    this.stepText.title = step;
    this._paintProblems();
  }

  // How the job ended, for the step line: "Finished in 12 s", "Failed after 3 s · in task
  // “Install packages”" (a playbook that stopped), "Cancelled after 1 min 2 s · 2 of 5
  // servers done" (a command on several servers keeps its last count).
  _endWords() {
    const status = this.current;
    if (status === "rejected") return "Rejected: it never ran.";
    const took = elapsed(this.startedAt, this.finishedAt);
    let words = took ? `${ENDED[status] || status} ${took}` : (ENDED[status] || status).replace(/ (in|after)$/, "");
    if (this.step && this.commandLike) words += ` · ${this.step}`;
    else if (this.step && status !== "succeeded") words += ` · in task “${this.step}”`;
    return words;
  }

  _progressTitle(percent) {
    if (!this.commandLike) return `task progress: ${percent}%`;
    if (this.current === "running") return "running (a command has no steps to count)";
    return this.isFinal() ? "ended" : "not started";
  }

  // The problems view's count: the page's count, plus the live lines that are problems
  // (`severe`: one of them is a WARNING or worse).
  addProblems(count, severe = false) {
    if (this.problems === null || !this.problemText) return;
    this.problems += count;
    this.severe = this.severe || severe;
    this.problemText.textContent = this.problems.toLocaleString();
    this._paintProblems();
  }

  _paintProblems() {
    if (!this.problemButton) return;
    const bad = Boolean(this.problems) && (this.severe || FAILED.has(this.current));
    this.problemButton.classList.toggle("lv-problems-bad", bad);
    this.problemButton.title = bad
      ? "only warnings, errors and stderr lines"
      : "only warnings, errors and stderr lines (stderr alone is not counted as a failure)";
  }

  // The line count only grows: the job's own count, or the highest seq seen.
  showLineCount(count) {
    this.lineCount = Math.max(this.lineCount, count);
    this.linesText.textContent = this.lineCount;
  }

  // The job page's facts outside the viewer ([data-lv-job="started_at"], ...).
  showJobFields(job) {
    for (const el of document.querySelectorAll("[data-lv-job]")) {
      const field = el.dataset.lvJob;
      const value = job[field];
      if (value === undefined) continue;
      if (field.endsWith("_at")) setClock(el.querySelector("time"), value);
      else el.textContent = value;
    }
  }

  cancelRequested() {
    this.cancelButton.disabled = true;
    this.cancelButton.textContent = "Cancel requested…";
  }

  cancelQuestion() {
    if (this.current === "pending") return `Cancel ${this.jobId}? It has not started yet: it will not run.`;
    if (this.current === "awaiting_approval") return `Withdraw ${this.jobId}? It is waiting for approval: it will not run.`;
    return this.commandLike
      ? `Cancel ${this.jobId}? The remote command will be killed.`
      : `Cancel ${this.jobId}? The playbook will be stopped and its remote commands killed.`;
  }

  async cancel() {
    if (!window.confirm(this.cancelQuestion())) return;
    this.cancelButton.disabled = true;
    try {
      await this.api.cancel();
      this.cancelRequested();
    } catch (err) {
      this.cancelButton.disabled = false;
      this.notice.show(`Cancel failed: ${err.message}`, "error");
    }
  }
}
