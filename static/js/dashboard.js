// The pages with job tables (dashboard, jobs, server page, playbooks) and server tables:
// one /ws/jobs/ feed (lv-socket.js: reconnect with backoff, acks, fatal close codes) drives
// live-lists.js, which draws every row from the server's own row template.
import { setConn } from "./common.js";
import { LiveLists, ROWS_CHANGED } from "./live-lists.js";
import { LiveSocket } from "./lv-socket.js";

const feedState = document.getElementById("feed-state");
const activeCount = document.getElementById("active-count");
const activeTable = document.getElementById("active-jobs");

const lists = new LiveLists(document);

if (activeCount && activeTable) {
  activeTable.addEventListener(ROWS_CHANGED, (event) => {
    activeCount.textContent = String(event.detail.rows);
  });
}

new LiveSocket({
  path: "/ws/jobs/",
  onMessage: (message) => {
    if (message.type === "status") lists.onStatus(message);
  },
  onState: (state, text) => {
    setConn(feedState, state, text);
    // The feed only tells what changes from now on: what ended before it (re)opened is read again.
    if (state === "live") lists.resync();
  },
}).start();
