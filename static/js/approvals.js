// The approvals page (/approvals/): its lists (#approval-lists, templates/approvals/_lists.html)
// are fetched again from GET /approvals/live/ when the page's /ws/jobs/ feed (job-feed.js) says
// a job was held, or one on the page changed, and every few seconds while the feed is down.
// A comment being typed survives the swap; "expires in" counts down between fetches.
import { localizeClocks } from "./clock.js";
import { setConn } from "./common.js";
import { jobFeedLive, subscribeJobFeed } from "./job-feed.js";
import { tickTimeLeft } from "./approval-panel.js";

const LIVE_URL = "/approvals/live/";
const DEBOUNCE_MS = 250;
const FALLBACK_MS = 5000;

const feedState = document.getElementById("feed-state");
let timer = null;
let token = 0;

const lists = () => document.getElementById("approval-lists");

function onPage(jobId) {
  return lists()?.querySelector(`[data-job-id="${CSS.escape(jobId)}"]`) != null;
}

// What the person is typing: comments by job, and which one has the focus (with its caret).
function typed(root) {
  const comments = new Map();
  for (const box of root.querySelectorAll("textarea[data-comment-for]")) {
    if (box.value) comments.set(box.dataset.commentFor, box.value);
  }
  const active = document.activeElement;
  const focus = active && root.contains(active) && active.dataset.commentFor
    ? { job: active.dataset.commentFor, start: active.selectionStart, end: active.selectionEnd }
    : null;
  return { comments, focus };
}

function restore(root, { comments, focus }) {
  for (const box of root.querySelectorAll("textarea[data-comment-for]")) {
    const text = comments.get(box.dataset.commentFor);
    if (text) box.value = text;
    if (focus && focus.job === box.dataset.commentFor) {
      box.focus();
      box.setSelectionRange(focus.start, focus.end);
    }
  }
}

async function refresh() {
  timer = null;
  const mine = ++token;
  let html;
  try {
    const response = await fetch(LIVE_URL, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (!response.ok) return;
    html = await response.text();
  } catch {
    return; // offline: the next status change, reconnect or poll fetches again
  }
  const current = lists();
  if (mine !== token || !current) return;
  // Our own server's HTML, escaped by Django; parsed, never pieced together from data.
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  const fresh = template.content.getElementById("approval-lists");
  if (!fresh) return;
  const kept = typed(current);
  localizeClocks(fresh);
  current.replaceWith(fresh);
  restore(fresh, kept);
  tickTimeLeft(fresh);
  document.dispatchEvent(new CustomEvent("livchat:approvals-refreshed", { detail: { waiting: Number(fresh.dataset.waiting) } }));
}

function schedule() {
  if (!timer) timer = setTimeout(refresh, DEBOUNCE_MS);
}

subscribeJobFeed({
  onStatus: (message) => {
    if (message.status === "awaiting_approval" || message.status === "rejected" || onPage(message.job_id)) schedule();
  },
  onState: (state, text) => {
    setConn(feedState, state, text);
    if (state === "live") schedule(); // what changed while the feed was closed
  },
});

setInterval(() => {
  if (!jobFeedLive()) schedule();
}, FALLBACK_MS);
setInterval(() => tickTimeLeft(document), 1000);
