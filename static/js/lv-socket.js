// The job log websocket: reconnects with backoff and resumes after the last seq it
// delivered, so the viewer sees every line once, in order, across dropped connections.
import { BACKOFF_MS, wsUrl } from "./common.js";

// Close codes from jobs/consumers.py that retrying cannot fix.
const FATAL = new Map([
  [4400, "bad request"],
  [4401, "not logged in: reload the page and log in again"],
  [4403, "forbidden: log in as a staff user"],
  [4404, "job not found"],
  [4429, "too many open live views: close some tabs, then reload"],
]);
const PING_MS = 20000;
const SILENCE_MS = 50000; // a socket quiet for this long (pings included) is dead

export class JobSocket {
  constructor({ jobId, after, onLines, onStatus, onEnd, onState }) {
    this.path = `/ws/jobs/${encodeURIComponent(jobId)}/`;
    this.base = after; // lines <= base are not ours to deliver: the viewer reads them over HTTP
    this.cursor = after; // last seq delivered
    this.onLines = onLines;
    this.onStatus = onStatus;
    this.onEnd = onEnd;
    this.onState = onState;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.holdUntil = 0;
    this.ended = false;
    this.fatal = "";
    this.stats = { received: 0, duplicates: 0, gaps: 0, connects: 0, reconnects: 0, messages: 0 };
    this.lastMessageAt = 0;
    this._pinger = null;
    window.addEventListener("online", () => this.reconnectNow());
  }

  get healthy() {
    return !this.ended && !this.fatal;
  }

  start() {
    this._open();
  }

  _open() {
    this.timer = null;
    if (this.ended || this.fatal) return;
    this.onState("connecting", this.stats.connects ? "reconnecting…" : "connecting…");
    const ws = new WebSocket(wsUrl(`${this.path}?after=${this.cursor}`));
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.stats.connects += 1;
      if (this.stats.connects > 1) this.stats.reconnects += 1;
      this.attempt = 0;
      this.lastMessageAt = performance.now();
      this.onState("live", "live");
      this._startPing();
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.lastMessageAt = performance.now();
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      this._handle(msg);
      // Flow control (jobs/flow.py): the server keeps at most 1 MiB unacknowledged, so
      // acknowledge each message once it is handed to the viewer.
      if (msg.ack && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ type: "ack", ack: msg.ack, seq: this.cursor }));
      }
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this._stopPing();
      if (this.ended) return;
      if (FATAL.has(event.code)) {
        this.fatal = FATAL.get(event.code);
        this.onState("error", this.fatal);
        return;
      }
      this._schedule();
    };
    ws.onerror = () => {}; // a close event always follows
  }

  _handle(msg) {
    this.stats.messages += 1;
    if (msg.type === "lines") {
      const fresh = [];
      for (const line of msg.lines || []) {
        // Resuming after `cursor` makes duplicates impossible; count them anyway so a
        // regression is visible (window.livchatViewer.stats()).
        if (line.seq <= this.cursor) {
          this.stats.duplicates += 1;
          continue;
        }
        if (line.seq !== this.cursor + 1) this.stats.gaps += 1;
        this.cursor = line.seq;
        fresh.push(line);
      }
      this.stats.received += fresh.length;
      if (fresh.length) this.onLines(fresh);
    } else if (msg.type === "status") {
      this.onStatus(msg);
    } else if (msg.type === "end") {
      this.ended = true;
      this.onState("ended", "complete");
      this.onEnd(msg);
    } else if (msg.type === "error") {
      this.fatal = msg.error || "error";
      this.onState("error", this.fatal);
    }
  }

  _schedule() {
    const delay = Math.max(BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)], this.holdUntil - performance.now());
    this.attempt += 1;
    this.onState("reconnecting", `reconnecting in ${(delay / 1000).toFixed(1)} s`);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._open(), delay);
  }

  reconnectNow() {
    if (this.timer && performance.now() >= this.holdUntil) {
      clearTimeout(this.timer);
      this._open();
    }
  }

  // Test and debugging hook: drop the connection as a network failure would, and stay
  // away for `holdMs` so lines pile up on the server meanwhile.
  drop({ holdMs = 0 } = {}) {
    this.holdUntil = performance.now() + holdMs;
    if (this.ws) this.ws.close(3000, "dropped");
  }

  _startPing() {
    this._stopPing();
    this._pinger = setInterval(() => {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      if (performance.now() - this.lastMessageAt > SILENCE_MS) {
        ws.close(3001, "silent"); // half-open connection: start over
        return;
      }
      ws.send(JSON.stringify({ type: "ping" }));
    }, PING_MS);
  }

  _stopPing() {
    clearInterval(this._pinger);
    this._pinger = null;
  }
}
