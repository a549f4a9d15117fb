// The job page of a running playbook: fill the per-host recap table once the job ends.
// The viewer sets the status badge from the socket; when it turns final, the recap is in
// the job's result (written together with the final status), so one API read is enough.
import { FINAL_STATUSES, getJson } from "./common.js";

const box = document.querySelector("[data-recap-job]");
const badge = document.querySelector('[data-logviewer] [data-lv="status"]');
const COLUMNS = ["ok", "changed", "failed", "unreachable", "skipped", "rescued", "ignored"];

function cell(text, className) {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = text; // host names come from the servers table: text only
  return td;
}

function fill(hosts) {
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
      tr.append(cell(host, "mono"), ...COLUMNS.map((c) => cell(counts[c] || 0, counts[c] ? "num recap-n" : "num")));
      return tr;
    }),
  );
  delete box.dataset.recapPending;
}

function finalStatus() {
  const m = badge && badge.className.match(/\bst-(\S+)/);
  return m && FINAL_STATUSES.has(m[1]);
}

if (box && badge && "recapPending" in box.dataset) {
  let busy = false;
  const load = () => {
    if (busy || !finalStatus()) return;
    busy = true;
    getJson(`/api/jobs/${encodeURIComponent(box.dataset.recapJob)}?recent=0`)
      .then((job) => {
        observer.disconnect();
        fill((job.result || {}).hosts);
      })
      .catch(() => {
        busy = false; // the next badge change (the viewer re-reads the job at the end) retries
      });
  };
  const observer = new MutationObserver(load);
  observer.observe(badge, { attributes: true, attributeFilter: ["class"] });
  load();
}
