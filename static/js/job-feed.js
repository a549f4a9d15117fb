// The page's one /ws/jobs/ feed (every status change of the jobs the user may see), shared by
// every module that wants it: the job tables (dashboard.js), the approvals page (approvals.js)
// and the navigation's approval count (approval-count.js). A module URL runs once a page, so
// the modules that import this one share its socket (lv-socket.js: reconnects, acks).
//
// subscribeJobFeed({onStatus, onState}): onStatus(message) for each `status` message;
// onState(state, text) for the connection state, called at once with the current one.
import { LiveSocket } from "./lv-socket.js";

const subscribers = new Set();
let socket = null;
let lastState = ["connecting", "connecting…"];

export function subscribeJobFeed({ onStatus = () => {}, onState = () => {} } = {}) {
  const subscriber = { onStatus, onState };
  subscribers.add(subscriber);
  if (socket) {
    onState(...lastState);
  } else {
    socket = new LiveSocket({
      path: "/ws/jobs/",
      onMessage: (message) => {
        if (message.type !== "status") return;
        for (const one of subscribers) one.onStatus(message);
      },
      onState: (state, text) => {
        lastState = [state, text];
        for (const one of subscribers) one.onState(state, text);
      },
    });
    socket.start();
  }
  return () => subscribers.delete(subscriber);
}

// The feed is live now (a subscriber's fallback polling may rest).
export function jobFeedLive() {
  return lastState[0] === "live";
}
