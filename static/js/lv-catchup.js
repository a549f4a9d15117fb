// Asking the server which new lines match, when the browser cannot tell by itself: a
// pattern only Python's `regex` runs (lv-pattern.js gave no RegExp). Live lines arrive over
// the socket; this reads the matching ones after the last seq already asked about, from the
// logs API (`after`), one request at a time and at most one every CATCHUP_MS: lines that
// arrive meanwhile are covered by the next request.
const CATCHUP_MS = 400;

export class ServerCatchUp {
  // read(after): a logs API answer, the matching lines after `after`;
  // onLines(lines): matching lines (possibly none), in seq order; onError(text).
  constructor({ read, onLines, onError = () => {} }) {
    Object.assign(this, { read, onLines, onError });
    this.after = 0; // every line up to here was asked about
    this.wanted = 0; // lines up to here exist
    this.busy = false;
    this.stopped = false;
  }

  // Lines up to `seq` were already asked about (the first, whole answer said so).
  askedUpTo(seq) {
    this.after = Math.max(this.after, seq);
  }

  // Lines up to `seq` exist now.
  offer(seq) {
    this.wanted = Math.max(this.wanted, seq);
    if (!this.busy && !this.stopped && this.wanted > this.after) this._run();
  }

  // A new search or filter replaced this one: answers still on their way are dropped.
  stop() {
    this.stopped = true;
  }

  async _run() {
    this.busy = true;
    try {
      while (!this.stopped && this.wanted > this.after) {
        await new Promise((resolve) => setTimeout(resolve, CATCHUP_MS));
        if (this.stopped) return;
        const res = await this.read(this.after);
        if (this.stopped) return;
        const lines = res.lines || [];
        if (lines.length) this.onLines(lines);
        const last = lines.length ? lines[lines.length - 1].seq : this.after;
        // Without has_more the answer covered every line the job had when it was read.
        const reached = res.has_more ? last : Math.max(last, res.last_seq || 0);
        if (reached <= this.after) break; // nothing new stored yet: the next offer asks again
        this.after = reached;
      }
    } catch (err) {
      if (!this.stopped) this.onError(err.message);
    } finally {
      this.busy = false;
    }
  }
}
