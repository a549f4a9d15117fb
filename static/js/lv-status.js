// The strip above the log pane and the notice under it.
//  StatusBar: the job's status badge, progress, step, exit code, line count, error text,
//    the problems count and the cancel button (the only part that acts: it asks the API
//    to cancel). A command has no steps to count: its bar is indeterminate while it runs;
//    a playbook's bar is its task progress, kept as reached when it fails or is cancelled.
//  Notice: one message line (loading, list summaries, errors), sticky or fading.
import { setClock } from "./clock.js";
import { FINAL_STATUSES, setBadge } from "./common.js";

const NOTICE_MS = 8000;

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
    Object.assign(this, { jobId, api, notice });
    this.canCancel = Boolean(boot.can_cancel);
    this.current = boot.status;
    this.lineCount = boot.line_count;
    this.commandLike = boot.job_type !== "playbook"; // no task progress to show
    this.progress = boot.progress || 0;
    this.step = boot.current_step || "";
    this.problems = Number.isInteger(boot.problems) ? boot.problems : null;
  }

  bind() {
    this.cancelButton.addEventListener("click", () => this.cancel());
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
    this.stepText.textContent = step;
    this.stepText.title = step;
  }

  _progressTitle(percent) {
    if (!this.commandLike) return `task progress: ${percent}%`;
    if (this.current === "running") return "running (a command has no steps to count)";
    return this.isFinal() ? "ended" : "not started";
  }

  // The problems view's count: the page's count, plus the live lines that are problems.
  addProblems(count) {
    if (this.problems === null || !this.problemText) return;
    this.problems += count;
    this.problemText.textContent = this.problems.toLocaleString();
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
