// The /search/ page: asks GET /api/logs/search page after page (its cursor) and shows each
// job's matches as they come. The filters live in the URL, so a search can be shared.
import { statusLabel } from "./common.js";

const PAGE_JOBS = 5; // a small page: the first results show while the search goes on
const FIRST_BATCH = 20; // jobs shown before "More jobs" is offered

const form = document.getElementById("search-form");
const results = document.getElementById("search-results");
const state = document.getElementById("search-state");
const errorBox = document.getElementById("search-error");
const more = document.getElementById("search-more");

let run = 0; // a newer search makes older requests' answers stale
let cursor = null;
let shown = 0;
let scanned = 0;
let highlight = null;

function params() {
  const data = new FormData(form);
  const out = new URLSearchParams();
  for (const [key, value] of data.entries()) if (value) out.set(key, value);
  return out;
}

function matcher(query, isRegex) {
  // What to mark in a shown line; a pattern the browser cannot read is shown unmarked.
  try {
    const source = isRegex ? query : query.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp(source, "g");
  } catch {
    return null;
  }
}

function marked(text) {
  const span = document.createElement("span");
  if (!highlight) {
    span.textContent = text;
    return span;
  }
  let last = 0;
  highlight.lastIndex = 0;
  for (const match of text.matchAll(highlight)) {
    if (!match[0]) break;
    span.append(text.slice(last, match.index));
    const mark = document.createElement("mark");
    mark.textContent = match[0];
    span.append(mark);
    last = match.index + match[0].length;
  }
  span.append(text.slice(last));
  return span;
}

function jobCard(job) {
  const card = document.createElement("article");
  card.className = "card search-job";
  card.dataset.jobId = job.job_id;
  const head = document.createElement("header");
  const link = document.createElement("a");
  link.href = job.url;
  link.className = "mono";
  link.textContent = job.job_id;
  const badge = document.createElement("span");
  badge.className = `badge st-${job.status}`;
  badge.textContent = statusLabel(job.status);
  const about = document.createElement("span");
  about.className = "muted small";
  const count = job.match_count === 1 ? "1 matching line" : `${job.match_count.toLocaleString()} matching lines`;
  about.textContent = ` ${job.servers.join(", ") || "-"} · ${job.created_at.slice(0, 16).replace("T", " ")} UTC · ${count}`;
  about.dataset.field = "count";
  head.append(link, " ", badge, about);
  const list = document.createElement("ol");
  list.className = "search-lines";
  for (const line of job.lines) {
    const item = document.createElement("li");
    const seq = document.createElement("a");
    seq.href = `/jobs/${job.job_id}/#L${line.seq}`;
    seq.className = "search-seq mono";
    seq.textContent = line.seq;
    const text = marked(line.message);
    text.className = "search-text mono";
    item.append(seq, text);
    list.append(item);
  }
  card.append(head, list);
  return card;
}

function say(text) {
  state.textContent = text;
}

async function fetchPage(mine, query) {
  const url = new URLSearchParams(query);
  url.set("limit", String(PAGE_JOBS));
  if (cursor) url.set("cursor", cursor);
  const response = await fetch(`/api/logs/search?${url}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({ error: `The server answered ${response.status}.` }));
  if (mine !== run) return false;
  if (!response.ok) {
    errorBox.textContent = body.error || `The server answered ${response.status}.`;
    errorBox.hidden = false;
    return false;
  }
  for (const job of body.jobs) {
    results.append(jobCard(job));
    shown += 1;
  }
  scanned += body.scanned;
  cursor = body.cursor;
  return true;
}

async function search(limit) {
  const mine = ++run;
  const query = params();
  more.hidden = true;
  const goal = shown + limit;
  say("Searching…");
  while (mine === run) {
    if (!(await fetchPage(mine, query))) break;
    if (!cursor || shown >= goal) break;
    say(`Searching… ${shown} job${shown === 1 ? "" : "s"} found in ${scanned.toLocaleString()} searched`);
  }
  if (mine !== run || !errorBox.hidden) return;
  const found = shown === 0 ? "No job you may see has a matching line" : `${shown} job${shown === 1 ? "" : "s"} with matching lines`;
  say(`${found} (${scanned.toLocaleString()} searched${cursor ? ", more may match" : ""}).`);
  more.hidden = !cursor;
}

function start() {
  const query = params();
  if (!query.get("q")) return;
  history.replaceState(null, "", `?${query}`);
  results.replaceChildren();
  errorBox.hidden = true;
  cursor = null;
  shown = 0;
  scanned = 0;
  highlight = matcher(query.get("q"), query.get("regex") === "true");
  search(FIRST_BATCH);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  start();
});
more.addEventListener("click", () => search(FIRST_BATCH));
start();
