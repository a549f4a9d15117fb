// Live job tables and live "Active jobs" counts, fed by the /ws/jobs/ status messages.
//
// A row is never built here: on a job a table has not seen, or whose status changed, the
// table fetches GET /jobs/<id>/row/?<its filters> (jobs/_job_row.html, the template the
// server renders the page with) and inserts or replaces that row. 204 means the job does
// not belong in this list. Between status changes only the counters are updated in place.
//
// A table opts in with data-live="<filter query>" (templates/jobs/_job_table.html);
// without it, its rows are still kept up to date but no row is added.
import { FINAL_STATUSES, getJson } from "./common.js";
import { localizeClocks } from "./clock.js";

export const ROWS_CHANGED = "livchat:rows-changed";
const ACTIVITY_URL = "/jobs/activity/";
const AWAITING = "awaiting_approval"; // held by a policy: neither active nor ended
const ACTIVITY_DEBOUNCE_MS = 400;

const rowSelector = (jobId) => `tr[data-job-id="${CSS.escape(jobId)}"]`;
const jobRows = (body) => body.querySelectorAll("tr[data-job-id]");

// jobs/templatetags/job_rows.py duration_text, in the same words.
export function durationText(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  if (total < 60) return `${total} s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes} min ${total % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function tickDurations(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll("[data-elapsed-from]")) {
    const started = Date.parse(el.dataset.elapsedFrom);
    if (!Number.isNaN(started)) el.textContent = durationText((now - started) / 1000);
  }
}

function setField(row, field, value) {
  const el = row.querySelector(`[data-field="${field}"]`);
  if (el && value !== undefined && value !== null) el.textContent = String(value);
}

// Counters that only grow: a message older than the fetched row must not move them back.
// A command's row has no progress cell (jobs/_job_row.html: a command has no steps to count),
// so only a playbook's percentage moves here.
function updateCounters(row, job) {
  for (const field of ["progress", "line_count"]) {
    const el = row.querySelector(`[data-field="${field}"]`);
    if (el && Number(job[field]) > Number(el.textContent)) setField(row, field, job[field]);
  }
}

class LiveTable {
  constructor(table, feed) {
    this.table = table;
    this.feed = feed;
    this.body = table.tBodies[0];
    this.query = table.dataset.live; // undefined: keep rows current, add none
    this.holds = table.dataset.liveHolds || "any";
    this.order = table.dataset.liveOrder || "created-desc";
    this.max = Number(table.dataset.liveMax) || 50;
    this.asked = new Map(); // job id -> the status a 204 was answered for
    this.tokens = new Map(); // job id -> number of the newest request
    this.inflight = new Map(); // job id -> the status the newest request was made for
  }

  row(jobId) {
    return this.body.querySelector(rowSelector(jobId));
  }

  holdsStatus(status) {
    if (this.holds === "any") return true;
    if (this.holds === "awaiting") return status === AWAITING;
    if (this.holds === "final") return FINAL_STATUSES.has(status);
    return !FINAL_STATUSES.has(status) && status !== AWAITING; // "active": pending or running
  }

  onStatus(job) {
    const row = this.row(job.job_id);
    if (!this.holdsStatus(job.status)) {
      this.tokens.set(job.job_id, (this.tokens.get(job.job_id) || 0) + 1); // drop one in flight
      if (row) this.remove(row);
      return;
    }
    if (row) {
      if (row.dataset.status === job.status) updateCounters(row, job);
      else if (this.inflight.get(job.job_id) !== job.status) this.fetchRow(job.job_id, job.status);
      return;
    }
    if (this.query === undefined || this.asked.get(job.job_id) === job.status) return;
    this.asked.set(job.job_id, job.status);
    this.fetchRow(job.job_id, job.status);
  }

  // Rows that may have changed while no socket was open.
  resync() {
    for (const row of jobRows(this.body)) {
      if (!FINAL_STATUSES.has(row.dataset.status)) this.fetchRow(row.dataset.jobId, "");
    }
  }

  async fetchRow(jobId, status) {
    const token = (this.tokens.get(jobId) || 0) + 1;
    this.tokens.set(jobId, token);
    this.inflight.set(jobId, status);
    const stale = () => this.tokens.get(jobId) !== token;
    const url = `/jobs/${encodeURIComponent(jobId)}/row/${this.query ? `?${this.query}` : ""}`;
    let response;
    let html = "";
    try {
      response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (response.ok) html = await response.text();
    } catch {
      return; // offline: the next status message or reconnect fetches again
    }
    if (stale()) return;
    this.inflight.delete(jobId);
    const current = this.row(jobId);
    if (response.status === 204 || response.status === 404) {
      if (current) this.remove(current);
      return;
    }
    if (!response.ok) return;
    // Our own server's HTML, escaped by Django; parsed, never pieced together from data.
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const fresh = template.content.querySelector("tr[data-job-id]");
    if (!fresh || fresh.dataset.jobId !== jobId) return;
    localizeClocks(fresh);
    if (!this.holdsStatus(fresh.dataset.status)) {
      // It moved on (ended while we were away): out of here, into the tables that hold it.
      if (current) this.remove(current);
      this.feed.onStatus({ job_id: jobId, status: fresh.dataset.status });
      return;
    }
    if (current) current.replaceWith(fresh);
    else if (!this.insert(fresh)) return;
    this.asked.delete(jobId);
    const latest = this.feed.latest.get(jobId);
    if (latest && latest.status === fresh.dataset.status) updateCounters(fresh, latest);
    this.changed();
  }

  // Put a new row where the server would list it; false when it falls off a full table.
  insert(fresh) {
    const rows = [...jobRows(this.body)];
    const created = Number(fresh.dataset.created);
    let before = null;
    if (this.order === "finished-desc") before = rows[0] || null;
    else if (this.order === "created-asc") before = rows.find((r) => Number(r.dataset.created) > created) || null;
    else before = rows.find((r) => Number(r.dataset.created) < created) || null;
    if (!before && rows.length >= this.max) return false;
    if (before) before.before(fresh);
    else if (rows.length) rows[rows.length - 1].after(fresh);
    else this.body.prepend(fresh);
    const all = jobRows(this.body);
    for (let i = all.length - 1; i >= this.max; i -= 1) all[i].remove();
    return true;
  }

  remove(row) {
    row.remove();
    this.changed();
  }

  changed() {
    const empty = this.body.querySelector(".empty-row");
    if (empty) empty.hidden = this.body.querySelector("tr[data-job-id]") !== null;
    this.table.dispatchEvent(
      new CustomEvent(ROWS_CHANGED, { bubbles: true, detail: { rows: jobRows(this.body).length } }),
    );
  }
}

// The servers' "Active jobs" cells (data-server-active="<name>"), refreshed from one small
// JSON answer a moment after job statuses change.
class ServerActivity {
  constructor(root) {
    this.root = root;
    this.timer = null;
  }

  get cells() {
    return this.root.querySelectorAll("[data-server-active]");
  }

  schedule() {
    if (this.timer || !this.cells.length) return;
    this.timer = setTimeout(() => this.refresh(), ACTIVITY_DEBOUNCE_MS);
  }

  async refresh() {
    this.timer = null;
    let counts;
    try {
      counts = await getJson(ACTIVITY_URL);
    } catch {
      return;
    }
    for (const cell of this.cells) {
      const count = counts[cell.dataset.serverActive];
      if (count !== undefined) cell.textContent = String(count);
    }
  }
}

// Every live table and activity cell of a page, fed with /ws/jobs/ status messages.
export class LiveLists {
  constructor(root = document) {
    this.latest = new Map(); // job id -> its newest status message
    this.tables = [...root.querySelectorAll("table.jobs-table")].map((table) => new LiveTable(table, this));
    this.activity = new ServerActivity(root);
    for (const row of root.querySelectorAll("tr[data-job-id]")) {
      this.latest.set(row.dataset.jobId, { job_id: row.dataset.jobId, status: row.dataset.status });
    }
    setInterval(() => tickDurations(root), 1000);
  }

  onStatus(job) {
    const before = this.latest.get(job.job_id);
    if (!before || before.status !== job.status) this.activity.schedule();
    this.latest.set(job.job_id, { ...before, ...job });
    for (const table of this.tables) table.onStatus(job);
  }

  // A (re)connected feed: what changed while it was closed is read again.
  resync() {
    this.activity.schedule();
    for (const table of this.tables) table.resync();
  }
}
