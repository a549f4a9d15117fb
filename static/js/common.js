// Small helpers shared by the page modules.

export const FINAL_STATUSES = new Set(["succeeded", "failed", "cancelled", "timed_out", "rejected"]);
export const BACKOFF_MS = [500, 1000, 2000, 4000, 5000];

export function statusLabel(status) {
  return String(status || "").replace(/_/g, " ");
}

// Badges are styled by class `st-<status>`; text is always set with textContent.
export function setBadge(el, status) {
  if (!el) return;
  el.className = el.className.replace(/\bst-\S+/g, "").trim() + ` st-${status}`;
  el.textContent = statusLabel(status);
}

export function wsUrl(path) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}

export function csrfToken(root = document) {
  const input = root.querySelector("input[name=csrfmiddlewaretoken]") || document.querySelector("input[name=csrfmiddlewaretoken]");
  if (input) return input.value;
  const cookie = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return cookie ? decodeURIComponent(cookie[1]) : "";
}

export async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

// Connection state pill: data-state drives the colour, text says it in words.
export function setConn(el, state, text) {
  if (!el) return;
  el.dataset.state = state;
  el.textContent = text || state;
}

// The job page announces that a job ended with a `livchat:job-ended` CustomEvent on the
// document, detail {jobId, status}. Module state remembers it, so a listener that comes
// later (a module that loaded after the end) still hears it, once.
export const JOB_ENDED = "livchat:job-ended";
const endedJobs = new Map();

export function announceJobEnded(jobId, status) {
  if (endedJobs.has(jobId)) return;
  endedJobs.set(jobId, status);
  document.dispatchEvent(new CustomEvent(JOB_ENDED, { detail: { jobId, status } }));
}

export function whenJobEnded(jobId, callback) {
  if (endedJobs.has(jobId)) {
    callback(endedJobs.get(jobId));
    return;
  }
  const listener = (event) => {
    if (event.detail.jobId !== jobId) return;
    document.removeEventListener(JOB_ENDED, listener);
    callback(event.detail.status);
  };
  document.addEventListener(JOB_ENDED, listener);
}

// The job page says each new status of its job with a `livchat:job-status` CustomEvent on the
// document, detail {jobId, status} (the approval panel listens).
export const JOB_STATUS = "livchat:job-status";

export function announceJobStatus(jobId, status) {
  document.dispatchEvent(new CustomEvent(JOB_STATUS, { detail: { jobId, status } }));
}
