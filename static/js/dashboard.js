// Live job status on the dashboard, the job list, the playbooks and server pages, from the
// /ws/jobs/ feed (lv-socket.js: reconnect with backoff, acks, fatal close codes).
// Rows carry data-job-id; the dashboard also moves jobs between "running" and "recent".
import { FINAL_STATUSES, setBadge, setConn } from "./common.js";
import { LiveSocket } from "./lv-socket.js";

const RECENT_MAX = 20;
const activeBody = document.querySelector("#active-jobs tbody");
const recentBody = document.querySelector("#recent-jobs tbody");
const feedState = document.getElementById("feed-state");
const activeCount = document.getElementById("active-count");

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function link(href, text) {
  const anchor = document.createElement("a");
  anchor.href = href;
  anchor.textContent = text;
  return anchor;
}

function fieldCell(field, className) {
  const td = cell("", className);
  td.dataset.field = field;
  return td;
}

function newRow(job) {
  const tr = document.createElement("tr");
  tr.dataset.jobId = job.job_id;
  const idCell = cell("", "mono");
  idCell.append(link(`/jobs/${encodeURIComponent(job.job_id)}/`, job.job_id));
  const serverCell = cell(job.server ? "" : "—");
  if (job.server) serverCell.append(link(`/servers/${encodeURIComponent(job.server)}/`, job.server));
  const statusCell = document.createElement("td");
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.dataset.field = "status";
  statusCell.append(badge);
  const progressCell = cell("", "num");
  const percent = document.createElement("span");
  percent.dataset.field = "progress";
  progressCell.append(percent, "%");
  const created = cell(new Date(job.created_at).toLocaleTimeString(), "nowrap");
  tr.append(
    idCell,
    serverCell,
    cell(job.job_type, "muted"),
    statusCell,
    progressCell,
    fieldCell("line_count", "num"),
    fieldCell("exit_code", "num"),
    created,
  );
  return tr;
}

function update(tr, job) {
  setBadge(tr.querySelector("[data-field=status]"), job.status);
  const setField = (field, value) => {
    const el = tr.querySelector(`[data-field=${field}]`);
    if (el) el.textContent = value;
  };
  setField("progress", job.progress);
  setField("line_count", job.line_count);
  setField("exit_code", job.exit_code === null || job.exit_code === undefined ? "" : job.exit_code);
}

const rowSelector = (jobId) => `tr[data-job-id="${CSS.escape(jobId)}"]`;

// Running jobs are listed under "running"; a job that ends moves to the top of "recent".
function place(job) {
  if (!activeBody) return;
  const isActive = !FINAL_STATUSES.has(job.status);
  let row = activeBody.querySelector(rowSelector(job.job_id));
  if (isActive && !row) {
    row = newRow(job);
    activeBody.append(row);
  } else if (!isActive && row) {
    row.remove();
    if (recentBody && !recentBody.querySelector(rowSelector(job.job_id))) {
      recentBody.prepend(row);
      while (recentBody.querySelectorAll("tr[data-job-id]").length > RECENT_MAX) {
        recentBody.querySelector("tr[data-job-id]:last-of-type").remove();
      }
    }
  }
  for (const body of [activeBody, recentBody]) {
    if (!body) continue;
    const empty = body.querySelector(".empty-row");
    if (empty) empty.hidden = body.querySelector("tr[data-job-id]") !== null;
  }
  if (activeCount) activeCount.textContent = activeBody.querySelectorAll("tr[data-job-id]").length;
}

function onStatus(job) {
  place(job);
  for (const tr of document.querySelectorAll(rowSelector(job.job_id))) update(tr, job);
}

new LiveSocket({
  path: "/ws/jobs/",
  onMessage: (message) => {
    if (message.type === "status") onStatus(message);
  },
  onState: (state, text) => setConn(feedState, state, text),
}).start();
