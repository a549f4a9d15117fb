// The strip above the log pane and the notice under it.
//  StatusBar: the job's status badge, progress, step, exit code, line count, error text
//    and the cancel button (the only part that acts: it asks the API to cancel).
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
    Object.assign(this, { jobId, api, notice });
    this.canCancel = Boolean(boot.can_cancel);
    this.current = boot.status;
    this.lineCount = boot.line_count;
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
    if (state.progress !== undefined) {
      this.progressText.textContent = state.progress;
      this.progressBar.style.width = `${Math.max(0, Math.min(100, state.progress))}%`;
    }
    if (state.current_step !== undefined) this.stepText.textContent = state.current_step || "";
    if (state.exit_code !== undefined) this.exitText.textContent = state.exit_code === null ? "–" : state.exit_code;
    if (state.error !== undefined) {
      this.errorText.textContent = state.error || "";
      this.errorText.hidden = !state.error;
    }
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

  async cancel() {
    if (!window.confirm(`Cancel ${this.jobId}? The remote command will be killed.`)) return;
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
