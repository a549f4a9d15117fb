// Held jobs' "expires in" countdowns (web/templatetags/approvals.py: data-expires-at), in the
// words of the job tables' durations; and the job page's approval panel (#approval-panel):
// once the job stops waiting (approved, rejected, expired, withdrawn) the Approve / Reject
// form goes, replaced by a note. The job page says status changes with `livchat:job-status`
// (common.js JOB_STATUS, from jobpage.js).
import { JOB_STATUS, statusLabel } from "./common.js";
import { durationText } from "./live-lists.js";

export function tickTimeLeft(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll("[data-expires-at]")) {
    const at = Date.parse(el.dataset.expiresAt);
    if (Number.isNaN(at)) continue;
    el.textContent = at > now ? durationText((at - now) / 1000) : "expiring now";
  }
}

const panel = document.getElementById("approval-panel");
if (panel) {
  const jobId = panel.dataset.jobId;
  setInterval(() => tickTimeLeft(panel), 1000);
  document.addEventListener(JOB_STATUS, (event) => {
    const { jobId: id, status } = event.detail;
    if (id !== jobId || status === "awaiting_approval" || status === panel.dataset.status) return;
    panel.dataset.status = status;
    const decide = panel.querySelector(".decide-form, .decide-denial");
    if (!decide) return;
    const note = document.createElement("p");
    note.className = "muted small";
    note.id = "approval-decided-note";
    note.textContent = `No longer waiting for approval: the job is ${statusLabel(status)} now. Reload the page to see who decided.`;
    decide.replaceWith(note);
    for (const el of panel.querySelectorAll("[data-expires-at]")) el.closest("[data-time-left]")?.remove();
  });
}
