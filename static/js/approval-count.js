// The navigation's count of jobs waiting for an approval the user could give (base.html,
// #approval-count, hidden at 0). Rendered by the server (web/context_processors.py); kept
// current from the page's /ws/jobs/ feed: a status change that can move it makes the module
// fetch GET /approvals/count ({"count": n}) once, a moment later. The same count is read again
// when the feed (re)connects, and every minute while it is down.
import { getJson } from "./common.js";
import { jobFeedLive, subscribeJobFeed } from "./job-feed.js";

const COUNT_URL = "/approvals/count";
const DEBOUNCE_MS = 300;
const FALLBACK_MS = 60000;
// A job held (awaiting_approval), let go (pending), or turned down (rejected, cancelled).
const MOVES_COUNT = new Set(["awaiting_approval", "pending", "rejected", "cancelled"]);

const badge = document.getElementById("approval-count");
let timer = null;

function show(count) {
  badge.textContent = String(count);
  badge.hidden = count === 0;
  badge.title = `${count} job${count === 1 ? "" : "s"} waiting for your approval`;
  badge.dispatchEvent(new CustomEvent("livchat:approval-count", { bubbles: true, detail: { count } }));
}

async function refresh() {
  timer = null;
  try {
    const body = await getJson(COUNT_URL);
    if (Number.isInteger(body.count)) show(body.count);
  } catch {
    // offline or signed out: the next status change or reconnect asks again
  }
}

function schedule() {
  if (!timer) timer = setTimeout(refresh, DEBOUNCE_MS);
}

if (badge) {
  subscribeJobFeed({
    onStatus: (message) => {
      if (MOVES_COUNT.has(message.status)) schedule();
    },
    onState: (state) => {
      if (state === "live") schedule();
    },
  });
  setInterval(() => {
    if (!jobFeedLive()) schedule();
  }, FALLBACK_MS);
}
