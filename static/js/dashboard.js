// The pages with job tables (dashboard, jobs, server page, playbooks) and server tables:
// the page's /ws/jobs/ feed (job-feed.js, shared with the navigation's approval count) drives
// live-lists.js, which draws every row from the server's own row template.
import { setConn } from "./common.js";
import { subscribeJobFeed } from "./job-feed.js";
import { LiveLists, ROWS_CHANGED } from "./live-lists.js";

const feedState = document.getElementById("feed-state");
const lists = new LiveLists(document);

// A table's live row count ("Running now 3"); `card`, when given, is shown only with rows.
function countRows(tableId, countId, cardId) {
  const table = document.getElementById(tableId);
  const count = document.getElementById(countId);
  const card = cardId ? document.getElementById(cardId) : null;
  if (!table || !count) return;
  table.addEventListener(ROWS_CHANGED, (event) => {
    count.textContent = String(event.detail.rows);
    if (card) card.hidden = event.detail.rows === 0;
  });
}

countRows("active-jobs", "active-count");
countRows("awaiting-jobs", "awaiting-count", "awaiting-card");

subscribeJobFeed({
  onStatus: (message) => lists.onStatus(message),
  onState: (state, text) => {
    setConn(feedState, state, text);
    // The feed only tells what changes from now on: what ended before it (re)opened is read again.
    if (state === "live") lists.resync();
  },
});
