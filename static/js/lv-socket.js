// The pages' websockets.
//  LiveSocket: reconnects with backoff, acknowledges every message (flow control,
//    jobs/live/flow.py), pings, and stops for good on a close code that retrying cannot fix.
//    The dashboard feed (/ws/jobs/) is a plain LiveSocket.
//  JobSocket: one job's log (/ws/jobs/<id>/); resumes after the last seq it delivered, so
//    the viewer sees every line once, in order, across dropped connections.
import { BACKOFF_MS, wsUrl } from "./common.js";

// Close codes from jobs/live/consumers.py and jobs/live/flow.py that retrying cannot fix. An open
// socket gets 4401/4403 too when the session ends or the rights change (jobs/live/recheck.py).
const FATAL_CLOSE_CODES = new Map([
  [4400, "bad request"],
  [4401, "not logged in, or the session ended: reload the page and log in again"],
  [4403, "not permitted (your access may have changed): reload the page"],
  [4404, "job not found"],
  [4429, "too many open live views: close some tabs, then reload"],
]);
const PING_MS = 20000;
const SILENCE_MS = 50000; // a socket quiet for this long (pings included) is dead

export class LiveSocket {
  // onMessage(message) gets every message but acks and pongs; onState(state, text) the
  // connection state for a pill (common.js setConn).
  constructor({ path, onMessage = () => {}, onState = () => {} }) {
    this.path = path;
    this.onMessage = onMessage;
    this.onState = onState;
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.holdUntil = 0;
    this.ended = false;
    this.fatal = "";
    this.counters = { connects: 0, reconnects: 0, messages: 0 };
    this.lastMessageAt = 0;
    this.pinger = null;
    window.addEventListener("online", () => this.reconnectNow());
  }

  // Not ended and not failed: it is, or will soon be again, connected.
  isHealthy() {
    return !this.ended && !this.fatal;
  }

  isEnded() {
    return this.ended;
  }

  start() {
    this.open();
  }

  // The address of the next connection; JobSocket adds its cursor.
  url() {
    return this.path;
  }

  // The seq to acknowledge with a message (jobs/live/flow.py: optional, for the record).
  ackSeq() {
    return undefined;
  }

  receive(message) {
    this.onMessage(message);
  }

  statistics() {
    return { ...this.counters, ended: this.ended };
  }

  open() {
    this.retryTimer = null;
    if (this.ended || this.fatal) return;
    this.onState("connecting", this.counters.connects ? "reconnecting…" : "connecting…");
    const ws = new WebSocket(wsUrl(this.url()));
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.counters.connects += 1;
      if (this.counters.connects > 1) this.counters.reconnects += 1;
      this.attempt = 0;
      this.lastMessageAt = performance.now();
      this.onState("live", "live");
      this.startPing();
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.lastMessageAt = performance.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.dispatch(message);
      // Flow control (jobs/live/flow.py): the server keeps at most 1 MiB unacknowledged, so
      // acknowledge each message once it is handled.
      if (message.ack && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ type: "ack", ack: message.ack, seq: this.ackSeq() }));
      }
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.stopPing();
      if (this.ended) return;
      // An `error` message before the close (dispatch set `fatal`) says why in the server's
      // words ("Your access changed: … Reload the page."): keep them, and do not retry.
      if (this.fatal || FATAL_CLOSE_CODES.has(event.code)) {
        this.fatal = this.fatal || FATAL_CLOSE_CODES.get(event.code);
        this.onState("error", this.fatal);
        return;
      }
      this.scheduleReconnect();
    };
    ws.onerror = () => {}; // a close event always follows
  }

  dispatch(message) {
    this.counters.messages += 1;
    if (message.type === "pong") return;
    if (message.type === "end") {
      this.ended = true;
      this.onState("ended", "complete");
    } else if (message.type === "error") {
      this.fatal = message.error || "error";
      this.onState("error", this.fatal);
    }
    this.receive(message);
  }

  scheduleReconnect() {
    const backoff = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    const delay = Math.max(backoff, this.holdUntil - performance.now());
    this.attempt += 1;
    this.onState("reconnecting", `reconnecting in ${(delay / 1000).toFixed(1)} s`);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  reconnectNow() {
    if (this.retryTimer && performance.now() >= this.holdUntil) {
      clearTimeout(this.retryTimer);
      this.open();
    }
  }

  // Test and debugging hook: drop the connection as a network failure would, and stay
  // away for `holdMs` so messages pile up on the server meanwhile.
  drop({ holdMs = 0 } = {}) {
    this.holdUntil = performance.now() + holdMs;
    if (this.ws) this.ws.close(3000, "dropped");
  }

  startPing() {
    this.stopPing();
    this.pinger = setInterval(() => {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      if (performance.now() - this.lastMessageAt > SILENCE_MS) {
        ws.close(3001, "silent"); // half-open connection: start over
        return;
      }
      ws.send(JSON.stringify({ type: "ping" }));
    }, PING_MS);
  }

  stopPing() {
    clearInterval(this.pinger);
    this.pinger = null;
  }
}

export class JobSocket extends LiveSocket {
  constructor({ jobId, after, onLines, onStatus, onEnd, onState, onPartial = () => {} }) {
    super({ path: `/ws/jobs/${encodeURIComponent(jobId)}/`, onState });
    this.cursor = after; // last seq delivered (lines <= after are read over HTTP)
    this.onLines = onLines;
    this.onStatus = onStatus;
    this.onEnd = onEnd;
    this.onPartial = onPartial; // a line being redrawn with \r: live only, never a line
    this.lineCounters = { received: 0, duplicates: 0, gaps: 0 };
  }

  url() {
    return `${this.path}?after=${this.cursor}`;
  }

  ackSeq() {
    return this.cursor;
  }

  // The last seq delivered: every later line will come through this socket while it is healthy.
  lastDelivered() {
    return this.cursor;
  }

  statistics() {
    return { ...super.statistics(), ...this.lineCounters, cursor: this.cursor };
  }

  receive(message) {
    if (message.type === "lines") this.receiveLines(message.lines || []);
    else if (message.type === "status") this.onStatus(message);
    else if (message.type === "end") this.onEnd(message);
    else if (message.type === "partial") this.onPartial(message);
  }

  receiveLines(lines) {
    const fresh = [];
    for (const line of lines) {
      // Resuming after `cursor` makes duplicates impossible; count them anyway so a
      // regression is visible (window.livchatViewer.stats()).
      if (line.seq <= this.cursor) {
        this.lineCounters.duplicates += 1;
        continue;
      }
      if (line.seq !== this.cursor + 1) this.lineCounters.gaps += 1;
      this.cursor = line.seq;
      fresh.push(line);
    }
    this.lineCounters.received += fresh.length;
    if (fresh.length) this.onLines(fresh);
  }
}
