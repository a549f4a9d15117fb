// The job page of a running playbook: fill the per-host recap table once the job ends.
// The job page announces the end (common.js whenJobEnded: the `livchat:job-ended` event);
// the recap is in the job's result, written together with the final status, so one API
// read is enough (a failed read is retried a few times).
import { getJson, whenJobEnded } from "./common.js";

const COLUMNS = ["ok", "changed", "failed", "unreachable", "skipped", "rescued", "ignored"];
const RETRY_MS = [1000, 2000, 4000, 8000];

function cell(text, className) {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = text; // host names come from the servers table: text only
  return td;
}

function fill(box, hosts) {
  const body = box.querySelector("tbody");
  const names = Object.keys(hosts || {}).sort();
  if (!names.length) {
    body.querySelector("td").textContent = "No recap: the playbook did not run.";
    return;
  }
  body.replaceChildren(
    ...names.map((host) => {
      const counts = hosts[host] || {};
      const tr = document.createElement("tr");
      if (counts.failed || counts.unreachable) tr.className = "recap-bad";
      const numbers = COLUMNS.map((column) => cell(counts[column] || 0, counts[column] ? "num recap-n" : "num"));
      tr.append(cell(host, "mono"), ...numbers);
      return tr;
    }),
  );
  delete box.dataset.recapPending;
}

function loadRecap(box, attempt = 0) {
  getJson(`/api/jobs/${encodeURIComponent(box.dataset.recapJob)}?recent=0`)
    .then((job) => fill(box, (job.result || {}).hosts))
    .catch(() => {
      if (attempt < RETRY_MS.length) setTimeout(() => loadRecap(box, attempt + 1), RETRY_MS[attempt]);
    });
}

const recapBox = document.querySelector("[data-recap-job]");
if (recapBox && "recapPending" in recapBox.dataset) {
  whenJobEnded(recapBox.dataset.recapJob, () => loadRecap(recapBox));
}
