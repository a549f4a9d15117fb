// A job on several servers (one command on a fleet): the per-host table above the log, the
// host filter, and "grouped by host" as an alternative to one interleaved seq order.
//   HostTable      the rows of #fleet-hosts, refreshed from GET /api/jobs/<id> (its `result`
//                  holds each host's state while the job runs) until the job is final
//   GroupedSource  a ListSource whose lines are ordered by host, then seq
//   bindHostControls  the toolbar's host select and order buttons, and the host names in the
//                  table (a click shows only that host's lines)
// Talks to the filters (LogFilters) through setHost/setGrouped only.
import { FINAL_STATUSES } from "./common.js";
import { ListSource } from "./lv-sources.js";

const REFRESH_MS = 1000;
const STATE_WORDS = {
  pending: "waiting",
  running: "running",
  ok: "ok",
  failed: "failed",
  unreachable: "unreachable",
  timed_out: "timed out",
  cancelled: "cancelled",
};

export class GroupedSource extends ListSource {
  // hosts: the order of the groups; lines without a host (the job's own) come first.
  constructor(options) {
    super(options);
    this.rank = new Map((options.hosts || []).map((host, i) => [host, i]));
    this.groups = new Map();
    this.unsorted = new Set();
    this.dirty = false;
    this.index = null;
  }

  // ListSource reads and sets `lines`; here it is the groups laid end to end, rebuilt lazily.
  get lines() {
    if (this.dirty) this._flatten();
    return this.flat;
  }

  set lines(value) {
    this.flat = value;
  }

  _merge(lines) {
    for (const line of lines) {
      if (this.seqs.has(line.seq)) continue;
      this.seqs.add(line.seq);
      const key = line.host || "";
      let group = this.groups.get(key);
      if (!group) {
        group = [];
        this.groups.set(key, group);
      }
      if (group.length && group[group.length - 1].seq > line.seq) this.unsorted.add(key);
      group.push(line);
      this.dirty = true;
    }
  }

  _flatten() {
    for (const key of this.unsorted) this.groups.get(key).sort((a, b) => a.seq - b.seq);
    this.unsorted.clear();
    const rankOf = (key) => (key === "" ? -1 : this.rank.has(key) ? this.rank.get(key) : this.rank.size);
    const keys = [...this.groups.keys()].sort((a, b) => rankOf(a) - rankOf(b) || a.localeCompare(b));
    this.flat = keys.flatMap((key) => this.groups.get(key));
    this.index = null;
    this.dirty = false;
  }

  indexOfSeq(seq) {
    const lines = this.lines;
    if (!this.index) this.index = new Map(lines.map((line, i) => [line.seq, i]));
    const found = this.index.get(seq);
    return found === undefined ? Math.max(0, lines.length - 1) : found;
  }

  summary() {
    const { text, kind } = super.summary();
    return { text: `${text} · grouped by host`, kind };
  }
}

export class HostTable {
  // element: #fleet-hosts; api: lv-api.js; isFinal(): whether the job has ended.
  constructor({ element, api, isFinal }) {
    Object.assign(this, { element, api, isFinal });
    this.timer = null;
    this.rows = new Map();
    for (const row of element.querySelectorAll("tr[data-host]")) this.rows.set(row.dataset.host, row);
    this.summaryEl = element.querySelector("[data-fleet=summary]");
  }

  start() {
    this.refresh();
    document.addEventListener("livchat:job-ended", () => this.refresh());
  }

  async refresh() {
    clearTimeout(this.timer);
    let job = null;
    try {
      job = await this.api.job();
    } catch {
      // a network hiccup: try again on the next tick
    }
    if (job) this.show(job);
    const final = job ? FINAL_STATUSES.has(job.status) : this.isFinal();
    if (!final) this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
  }

  show(job) {
    const result = job.result || {};
    const hosts = result.hosts || {};
    for (const [name, row] of this.rows) {
      const host = hosts[name];
      let state = host ? host.status : "pending";
      // a job that ended before a host was reached (cancelled while waiting for a slot)
      if (!host && FINAL_STATUSES.has(job.status)) state = job.status === "cancelled" ? "cancelled" : "pending";
      this._paint(row, state, host || {});
    }
    const summary = result.summary;
    if (this.summaryEl && summary) {
      const parts = [`${summary.ok} ok`, `${summary.failed} failed`, `${summary.unreachable} unreachable`];
      if (summary.running) parts.push(`${summary.running} running`);
      if (summary.pending) parts.push(`${summary.pending} waiting`);
      this.summaryEl.textContent = `${parts.join(" · ")} — of ${summary.total}`;
    }
  }

  _paint(row, state, host) {
    row.dataset.state = state;
    const badge = row.querySelector("[data-col=state] .badge");
    badge.className = `badge hs-${state}`;
    badge.textContent = STATE_WORDS[state] || state;
    const code = host.exit_code;
    row.querySelector("[data-col=exit]").textContent = code === null || code === undefined ? "–" : String(code);
    const secs = host.duration_s;
    row.querySelector("[data-col=time]").textContent =
      secs === null || secs === undefined ? "–" : `${secs.toFixed(1)} s`;
    row.querySelector("[data-col=error]").textContent = host.error || "";
  }
}

// elements: the viewer's [data-lv] map (host, order); table: #fleet-hosts or null.
export function bindHostControls({ elements, filters, hosts, table }) {
  const select = elements.host;
  const order = elements.order;
  const pickHost = (host) => {
    if (select) select.value = host;
    filters.setHost(host);
    if (table) {
      for (const row of table.querySelectorAll("tr[data-host]")) {
        row.classList.toggle("fleet-picked", Boolean(host) && row.dataset.host === host);
      }
    }
  };
  if (select) select.addEventListener("change", () => pickHost(select.value));
  if (order) {
    order.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-order]");
      if (!button) return;
      for (const one of order.querySelectorAll("button[data-order]")) {
        const on = one === button;
        one.classList.toggle("on", on);
        one.setAttribute("aria-pressed", String(on));
      }
      filters.setGrouped(button.dataset.order === "host" ? hosts : null);
    });
  }
  if (table) {
    table.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-host-pick]");
      if (!button) return;
      const host = button.dataset.hostPick;
      pickHost(select && select.value === host ? "" : host); // a second click shows every host again
    });
  }
}
