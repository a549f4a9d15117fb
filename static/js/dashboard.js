// Live job status on the dashboard, the job list and server pages, from /ws/jobs/.
// Rows carry data-job-id; the dashboard also moves jobs between "running" and "recent".
import { BACKOFF_MS, FINAL_STATUSES, setBadge, setConn, wsUrl } from "./common.js";

const RECENT_MAX = 20;
const active = document.querySelector("#active-jobs tbody");
const recent = document.querySelector("#recent-jobs tbody");
const stateEl = document.getElementById("feed-state");
const activeCount = document.getElementById("active-count");

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function newRow(m) {
  const tr = document.createElement("tr");
  tr.dataset.jobId = m.job_id;
  const idCell = document.createElement("td");
  idCell.className = "mono";
  const a = document.createElement("a");
  a.href = `/jobs/${encodeURIComponent(m.job_id)}/`;
  a.textContent = m.job_id;
  idCell.append(a);
  const serverCell = document.createElement("td");
  if (m.server) {
    const s = document.createElement("a");
    s.href = `/servers/${encodeURIComponent(m.server)}/`;
    s.textContent = m.server;
    serverCell.append(s);
  } else serverCell.textContent = "—";
  const statusCell = document.createElement("td");
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.dataset.field = "status";
  statusCell.append(badge);
  const progressCell = document.createElement("td");
  progressCell.className = "num";
  const pct = document.createElement("span");
  pct.dataset.field = "progress";
  progressCell.append(pct, "%");
  const lines = cell("", "num");
  lines.dataset.field = "line_count";
  const exit = cell("", "num");
  exit.dataset.field = "exit_code";
  const created = cell(new Date(m.created_at).toLocaleTimeString(), "nowrap");
  tr.append(idCell, serverCell, cell(m.job_type, "muted"), statusCell, progressCell, lines, exit, created);
  return tr;
}

function update(tr, m) {
  setBadge(tr.querySelector("[data-field=status]"), m.status);
  const set = (field, value) => {
    const el = tr.querySelector(`[data-field=${field}]`);
    if (el) el.textContent = value;
  };
  set("progress", m.progress);
  set("line_count", m.line_count);
  set("exit_code", m.exit_code === null || m.exit_code === undefined ? "" : m.exit_code);
}

function place(m) {
  if (!active) return;
  const isActive = !FINAL_STATUSES.has(m.status);
  let row = active.querySelector(`tr[data-job-id="${CSS.escape(m.job_id)}"]`);
  if (isActive && !row) {
    row = newRow(m);
    active.append(row);
  } else if (!isActive && row) {
    row.remove();
    if (recent && !recent.querySelector(`tr[data-job-id="${CSS.escape(m.job_id)}"]`)) {
      recent.prepend(row);
      while (recent.querySelectorAll("tr[data-job-id]").length > RECENT_MAX) recent.querySelector("tr[data-job-id]:last-of-type").remove();
    }
  }
  for (const body of [active, recent]) {
    if (!body) continue;
    const empty = body.querySelector(".empty-row");
    if (empty) empty.hidden = body.querySelector("tr[data-job-id]") !== null;
  }
  if (activeCount) activeCount.textContent = active.querySelectorAll("tr[data-job-id]").length;
}

function onStatus(m) {
  place(m);
  for (const tr of document.querySelectorAll(`tr[data-job-id="${CSS.escape(m.job_id)}"]`)) update(tr, m);
}

let attempt = 0;
function connect() {
  setConn(stateEl, "connecting", "connecting…");
  const ws = new WebSocket(wsUrl("/ws/jobs/"));
  ws.onopen = () => {
    attempt = 0;
    setConn(stateEl, "live", "live");
  };
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === "status") onStatus(m);
    // Flow control (jobs/flow.py): acknowledge what was handled, or the server stops sending.
    if (m.ack && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "ack", ack: m.ack }));
  };
  ws.onclose = (e) => {
    if (e.code === 4403 || e.code === 4401) {
      setConn(stateEl, "error", "not authorised: log in again");
      return;
    }
    const delay = BACKOFF_MS[Math.min(attempt++, BACKOFF_MS.length - 1)];
    setConn(stateEl, "reconnecting", `reconnecting in ${(delay / 1000).toFixed(1)} s`);
    setTimeout(connect, delay);
  };
}

connect();
