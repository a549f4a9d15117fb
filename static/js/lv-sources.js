// Where the viewer's rows come from. Both sources answer the same questions (count,
// seqAt, indexOfSeq, lineAt, lineOf, placeholder, emptyText, offer, ensure), so the
// viewer and the row window never ask which kind they hold.
//  FullSource: row i is seq i+1 for 1..lastSeq; rows live in a LineCache of 1000-seq
//    blocks, filled by the websocket (the tail and everything live) and, for older rows,
//    by /api/jobs/<id>/logs?after=<block start>&tail=1000 on demand.
//  ListSource: an exact filtered list (level/stream/regex) from the logs API, extended
//    live with new lines that pass the same filter, and backwards on demand. A pattern the
//    browser cannot run (lv-pattern.js) is left to the server for live lines too (lv-catchup.js).
import { ServerCatchUp } from "./lv-catchup.js";
import { testLine } from "./lv-pattern.js";

export const BLOCK = 1000;
export const LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
const MAX_BLOCKS = 200; // ~200 000 lines kept in memory; evicted blocks are fetched again
const MAX_INFLIGHT = 3;
const LIST_PAGE = 10000; // the API's largest `tail`
const EARLIER_WINDOW = 50000; // seqs scanned per "load earlier" step

export class LineCache {
  constructor() {
    this.blocks = new Map(); // block number → {lines, fetchedUpTo, used}
    this.tick = 0;
  }

  blockOf(seq) {
    return Math.floor((seq - 1) / BLOCK);
  }

  get(seq) {
    const block = this.blocks.get(this.blockOf(seq));
    if (!block) return undefined;
    block.used = ++this.tick;
    return block.lines[(seq - 1) % BLOCK];
  }

  _block(number) {
    let block = this.blocks.get(number);
    if (!block) {
      block = { lines: new Array(BLOCK), fetchedUpTo: 0, used: ++this.tick };
      this.blocks.set(number, block);
    }
    return block;
  }

  // False when the seq is already there: lines are deduplicated by seq.
  put(line) {
    const block = this._block(this.blockOf(line.seq));
    const slot = (line.seq - 1) % BLOCK;
    if (block.lines[slot]) return false;
    block.lines[slot] = line;
    return true;
  }

  // Seqs up to `upTo` in block `number` were asked of the server: a hole there is a row
  // that does not exist (expired), not one still on its way.
  markFetched(number, upTo) {
    const block = this._block(number);
    block.fetchedUpTo = Math.max(block.fetchedUpTo, upTo);
  }

  fetched(seq) {
    const block = this.blocks.get(this.blockOf(seq));
    return Boolean(block && seq <= block.fetchedUpTo);
  }

  // Drop the least recently used blocks beyond MAX_BLOCKS, never those in `keep`.
  evict(keep) {
    if (this.blocks.size <= MAX_BLOCKS) return;
    const order = [...this.blocks.entries()]
      .filter(([number]) => !keep.has(number))
      .sort((a, b) => a[1].used - b[1].used);
    const excess = this.blocks.size - Math.floor(MAX_BLOCKS * 0.8);
    for (const [number] of order.slice(0, excess)) this.blocks.delete(number);
  }

  // Keep only the newest block and the recently used ones (live lines while a list shows).
  evictAllBut(seq) {
    this.evict(new Set([this.blockOf(seq)]));
  }
}

export class FullSource {
  // cache: the LineCache; api: lv-api.js; lastSeq: the highest seq known to exist;
  // liveAfter(): seqs above it are on their way over the socket (null: nothing is);
  // onLoaded(): rows arrived over HTTP; onError(text): a block could not be read.
  constructor({ cache, api, lastSeq, liveAfter, onLoaded, onError }) {
    Object.assign(this, { cache, api, liveAfter, onLoaded, onError });
    this.last = lastSeq;
    this.inflight = new Set();
  }

  lastSeq() {
    return this.last;
  }

  // A line or the end of the job says seq exists.
  extendTo(seq) {
    if (seq > this.last) this.last = seq;
  }

  count() {
    return this.last;
  }

  seqAt(index) {
    return index + 1;
  }

  indexOfSeq(seq) {
    return Math.max(0, Math.min(this.last, seq) - 1);
  }

  lineAt(index) {
    return this.cache.get(index + 1);
  }

  lineOf(seq) {
    return this.cache.get(seq);
  }

  placeholder(index) {
    return this.cache.fetched(index + 1) ? "missing" : "loading";
  }

  emptyText(final) {
    return final ? "This job wrote no output." : "Waiting for output…";
  }

  offer() {} // live lines go to the cache, which is this source's store

  // Fetch the blocks behind rows [first, end) that are neither cached nor coming from the
  // socket (which delivers everything after its cursor).
  ensure(first, end) {
    const live = this.liveAfter();
    const ceiling = live === null ? this.last : live;
    const keep = new Set();
    const lastBlock = Math.floor(Math.max(first, end - 1) / BLOCK);
    for (let block = Math.floor(first / BLOCK); block <= lastBlock; block++) {
      keep.add(block);
      if (this.inflight.has(block) || this.inflight.size >= MAX_INFLIGHT) continue;
      const low = Math.max(first + 1, block * BLOCK + 1);
      const high = Math.min(end, (block + 1) * BLOCK, ceiling);
      for (let seq = low; seq <= high; seq++) {
        if (!this.cache.get(seq) && !this.cache.fetched(seq)) {
          this._fetch(block);
          break;
        }
      }
    }
    const newest = Math.floor(Math.max(0, this.last - 1) / BLOCK);
    keep.add(newest).add(newest - 1);
    this.cache.evict(keep);
  }

  async _fetch(block) {
    this.inflight.add(block);
    const end = (block + 1) * BLOCK;
    try {
      let after = block * BLOCK;
      for (;;) {
        const res = await this.api.logs({ after, tail: end - after });
        for (const line of res.lines) this.cache.put(line);
        const returned = res.lines.length ? res.lines[res.lines.length - 1].seq : after;
        if (res.has_more && returned < end) {
          // The answer stopped at its byte budget (long lines): read on from where it stopped.
          this.cache.markFetched(block, returned);
          after = returned;
          continue;
        }
        const upTo = res.has_more ? returned : Math.max(returned, Math.min(res.last_seq, end));
        this.cache.markFetched(block, Math.min(upTo, end));
        break;
      }
    } catch (err) {
      this.onError(`Could not load lines ${block * BLOCK + 1}–${(block + 1) * BLOCK}: ${err.message}`);
    } finally {
      this.inflight.delete(block);
      this.onLoaded();
    }
  }
}

export function levelIndex(level) {
  const index = LEVELS.indexOf(level);
  return index < 0 ? 1 : index;
}

// The problems view (jobs/log/reader.py is_problem): WARNING and above, or stderr.
export function isProblem(line) {
  return isSevere(line) || line.stream === "stderr";
}

// A problem whatever the job's outcome (stderr alone is not: see lv-status.js).
export function isSevere(line) {
  return levelIndex(line.level) >= levelIndex("WARNING");
}

export class ListSource {
  // filter: {level, stream, problems, q, re, host}; `re` is the browser's version of q (null when
  // only the server can run the expression: then the server is asked about live lines).
  // onGrew(prepended): earlier lines were loaded in front of the list.
  // onAppended(): lines the server found were added at the end (a server-only pattern).
  constructor({ api, filter, onGrew, onAppended = () => {} }) {
    this.api = api;
    this.filter = filter;
    this.onGrew = onGrew;
    this.onAppended = onAppended;
    this.catchUp = null; // a ServerCatchUp while the server decides which live lines match
    this.stopped = false;
    this.lastOffered = 0; // the newest live line offered (a server-only pattern asks about it)
    this.lines = [];
    this.seqs = new Set();
    this.pending = [];
    this.loading = false;
    this.loaded = false;
    this.floor = 0; // every matching line with seq >= floor is loaded
    this.exhausted = false;
    this.error = "";
  }

  count() {
    return this.lines.length;
  }

  seqAt(index) {
    return this.lines[index] ? this.lines[index].seq : 0;
  }

  lineAt(index) {
    return this.lines[index];
  }

  lineOf(seq) {
    const line = this.lines[this.indexOfSeq(seq)];
    return line && line.seq === seq ? line : undefined;
  }

  placeholder() {
    return "loading";
  }

  emptyText() {
    return this.loaded ? "No matching lines." : "Loading…";
  }

  isLoaded() {
    return this.loaded;
  }

  // What the notice above the pane says about this list: {text, kind}.
  summary() {
    const count = this.lines.length;
    let text = `${count.toLocaleString()} matching line${count === 1 ? "" : "s"}`;
    if (!this.exhausted) text += " · scroll up to load earlier ones";
    return this.error ? { text: `${text} · ${this.error}`, kind: "error" } : { text, kind: "info" };
  }

  indexOfSeq(seq) {
    let low = 0;
    let high = this.lines.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.lines[middle].seq < seq) low = middle + 1;
      else high = middle;
    }
    return Math.min(low, Math.max(0, this.lines.length - 1));
  }

  matches(line) {
    const { level, stream, problems, q, re, host } = this.filter;
    if (host && line.host !== host) return false;
    if (level && levelIndex(line.level) < levelIndex(level)) return false;
    if (stream && line.stream !== stream) return false;
    if (problems && !isProblem(line)) return false;
    return !q || testLine(re, line.message);
  }

  // Only the server can tell which lines match (a pattern the browser cannot run).
  serverOnly() {
    return Boolean(this.filter.q) && !this.filter.re;
  }

  params() {
    const { level, stream, problems, q, host } = this.filter;
    return { level, stream, q, host, problems: problems ? "true" : "" };
  }

  async load() {
    this.loading = true;
    try {
      const res = await this.api.logs({ ...this.params(), tail: LIST_PAGE });
      this._merge(res.lines);
      this.exhausted = !res.has_more;
      this.floor = this.exhausted ? 0 : res.lines[0].seq;
      if (this.serverOnly() && !this.stopped) this._startCatchUp(res.last_seq);
    } catch (err) {
      this.error = err.message;
      this.exhausted = true;
    } finally {
      this.loading = false;
      this.loaded = true;
      this._merge(this.pending.splice(0));
    }
  }

  offer(line) {
    if (this.serverOnly()) {
      this.lastOffered = Math.max(this.lastOffered, line.seq);
      if (this.catchUp) this.catchUp.offer(line.seq);
      return;
    }
    if (!this.matches(line)) return;
    if (this.loading) this.pending.push(line);
    else this._merge([line]);
  }

  // This list is no longer shown: stop asking the server for it.
  stop() {
    this.stopped = true;
    if (this.catchUp) this.catchUp.stop();
  }

  _startCatchUp(askedUpTo) {
    this.catchUp = new ServerCatchUp({
      read: (after) => this.api.logs({ ...this.params(), after, tail: LIST_PAGE }),
      onLines: (lines) => {
        this._merge(lines);
        this.onAppended();
      },
      onError: (text) => {
        this.error = text;
        this.onAppended();
      },
    });
    this.catchUp.askedUpTo(askedUpTo);
    this.catchUp.offer(this.lastOffered); // lines that came while the list was loading
  }

  _merge(lines) {
    let sorted = true;
    for (const line of lines) {
      if (this.seqs.has(line.seq)) continue;
      this.seqs.add(line.seq);
      const last = this.lines[this.lines.length - 1];
      if (last && last.seq > line.seq) sorted = false;
      this.lines.push(line);
    }
    if (!sorted) this.lines.sort((a, b) => a.seq - b.seq);
  }

  ensure(first) {
    if (first < 200 && this.loaded && !this.loading && !this.exhausted) this.loadEarlier();
  }

  // The API reads forward from `after`; step backwards in windows below `floor`,
  // reading each window forward until it reaches what is already loaded.
  async loadEarlier() {
    this.loading = true;
    const before = this.lines.length;
    const oldFirst = before ? this.lines[0].seq : 0;
    try {
      let span = EARLIER_WINDOW;
      for (let step = 0; step < 6 && this.lines.length === before && !this.exhausted; step++) {
        const high = this.floor;
        const low = Math.max(0, high - 1 - span);
        let cursor = low;
        const got = [];
        while (cursor < high - 1) {
          const res = await this.api.logs({ ...this.params(), after: cursor, tail: LIST_PAGE });
          const inRange = res.lines.filter((line) => line.seq < high);
          got.push(...inRange);
          if (!res.has_more || inRange.length < res.lines.length) break;
          cursor = res.lines[res.lines.length - 1].seq;
        }
        this._merge(got);
        this.floor = low + 1;
        this.exhausted = low === 0;
        span *= 4;
      }
    } catch (err) {
      this.error = err.message;
      this.exhausted = true;
    } finally {
      this.loading = false;
      this._merge(this.pending.splice(0));
      this.onGrew(oldFirst ? this.indexOfSeq(oldFirst) : this.lines.length);
    }
  }
}
