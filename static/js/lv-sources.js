// Where the viewer's rows come from.
//  FullSource: row i is seq i+1 for 1..last_seq; rows live in a sparse cache of
//    1000-seq blocks, filled by the websocket (the tail and everything live) and, for
//    older rows, by /api/jobs/<id>/logs?after=<block start>&tail=1000 on demand.
//  ListSource: an exact filtered list (level/stream/regex) from the logs API, extended
//    live with new lines that pass the same filter, and backwards on demand.

export const BLOCK = 1000;
export const LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
const MAX_BLOCKS = 200; // ~200 000 lines kept in memory; evicted blocks are fetched again
const MAX_INFLIGHT = 3;
const LIST_PAGE = 10000; // the API's largest `tail`
const EARLIER_WINDOW = 50000; // seqs scanned per "load earlier" step

export class LineCache {
  constructor() {
    this.blocks = new Map();
    this.tick = 0;
  }

  blockOf(seq) {
    return Math.floor((seq - 1) / BLOCK);
  }

  get(seq) {
    const blk = this.blocks.get(this.blockOf(seq));
    if (!blk) return undefined;
    blk.used = ++this.tick;
    return blk.lines[(seq - 1) % BLOCK];
  }

  // False when the seq is already there: lines are deduplicated by seq.
  put(line) {
    const b = this.blockOf(line.seq);
    let blk = this.blocks.get(b);
    if (!blk) {
      blk = { lines: new Array(BLOCK), fetchedUpTo: 0, used: ++this.tick };
      this.blocks.set(b, blk);
    }
    const i = (line.seq - 1) % BLOCK;
    if (blk.lines[i]) return false;
    blk.lines[i] = line;
    return true;
  }

  // Seqs up to `upTo` in block b were asked of the server: a hole there is a row that
  // does not exist (expired), not one still on its way.
  markFetched(b, upTo) {
    let blk = this.blocks.get(b);
    if (!blk) {
      blk = { lines: new Array(BLOCK), fetchedUpTo: 0, used: ++this.tick };
      this.blocks.set(b, blk);
    }
    blk.fetchedUpTo = Math.max(blk.fetchedUpTo, upTo);
  }

  fetched(seq) {
    const blk = this.blocks.get(this.blockOf(seq));
    return Boolean(blk && seq <= blk.fetchedUpTo);
  }

  evict(keep) {
    if (this.blocks.size <= MAX_BLOCKS) return;
    const order = [...this.blocks.entries()].filter(([b]) => !keep.has(b)).sort((a, b) => a[1].used - b[1].used);
    for (const [b] of order.slice(0, this.blocks.size - Math.floor(MAX_BLOCKS * 0.8))) this.blocks.delete(b);
  }
}

export class FullSource {
  constructor(viewer) {
    this.v = viewer;
    this.inflight = new Set();
    this.kind = "full";
  }

  count() {
    return this.v.lastSeq;
  }

  seqAt(i) {
    return i + 1;
  }

  indexOfSeq(seq) {
    return Math.max(0, Math.min(this.v.lastSeq, seq) - 1);
  }

  lineAt(i) {
    return this.v.cache.get(i + 1);
  }

  placeholder(i) {
    const seq = i + 1;
    return this.v.cache.fetched(seq) ? "missing" : "loading";
  }

  // Fetch the blocks behind rows [i0, i1) that are neither cached nor coming from the
  // socket (which delivers everything after its cursor).
  ensure(i0, i1) {
    const ceil = this.v.socket.healthy ? this.v.socket.cursor : this.v.lastSeq;
    const keep = new Set();
    for (let b = Math.floor(i0 / BLOCK); b <= Math.floor(Math.max(i0, i1 - 1) / BLOCK); b++) {
      keep.add(b);
      if (this.inflight.has(b) || this.inflight.size >= MAX_INFLIGHT) continue;
      const lo = Math.max(i0 + 1, b * BLOCK + 1);
      const hi = Math.min(i1, (b + 1) * BLOCK, ceil);
      for (let seq = lo; seq <= hi; seq++) {
        if (!this.v.cache.get(seq) && !this.v.cache.fetched(seq)) {
          this._fetch(b);
          break;
        }
      }
    }
    const last = Math.floor(Math.max(0, this.v.lastSeq - 1) / BLOCK);
    keep.add(last).add(last - 1);
    this.v.cache.evict(keep);
  }

  async _fetch(b) {
    this.inflight.add(b);
    const end = (b + 1) * BLOCK;
    try {
      let after = b * BLOCK;
      for (;;) {
        const res = await this.v.api.logs({ after, tail: end - after });
        for (const line of res.lines) this.v.cache.put(line);
        const returned = res.lines.length ? res.lines[res.lines.length - 1].seq : after;
        if (res.has_more && returned < end) {
          // The answer stopped at its byte budget (long lines): read on from where it stopped.
          this.v.cache.markFetched(b, returned);
          after = returned;
          continue;
        }
        const upTo = res.has_more ? returned : Math.max(returned, Math.min(res.last_seq, end));
        this.v.cache.markFetched(b, Math.min(upTo, end));
        break;
      }
    } catch (err) {
      this.v.notify(`Could not load lines ${b * BLOCK + 1}–${(b + 1) * BLOCK}: ${err.message}`, "error");
    } finally {
      this.inflight.delete(b);
      this.v.scheduleRender();
    }
  }
}

export function levelIndex(level) {
  const i = LEVELS.indexOf(level);
  return i < 0 ? 1 : i;
}

export class ListSource {
  // filter: {level, stream, q, re}; `re` is the browser's version of q (null when the
  // expression only works server-side, then live lines are not added).
  constructor(viewer, filter) {
    this.v = viewer;
    this.f = filter;
    this.kind = "list";
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

  seqAt(i) {
    return this.lines[i] ? this.lines[i].seq : 0;
  }

  lineAt(i) {
    return this.lines[i];
  }

  placeholder() {
    return "loading";
  }

  indexOfSeq(seq) {
    let lo = 0;
    let hi = this.lines.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.lines[mid].seq < seq) lo = mid + 1;
      else hi = mid;
    }
    return Math.min(lo, Math.max(0, this.lines.length - 1));
  }

  matches(line) {
    if (this.f.level && levelIndex(line.level) < levelIndex(this.f.level)) return false;
    if (this.f.stream && line.stream !== this.f.stream) return false;
    if (this.f.q) {
      if (!this.f.re) return false;
      this.f.re.lastIndex = 0;
      if (!this.f.re.test(line.message)) return false;
    }
    return true;
  }

  params() {
    return { level: this.f.level, stream: this.f.stream, q: this.f.q };
  }

  async load() {
    this.loading = true;
    try {
      const res = await this.v.api.logs({ ...this.params(), tail: LIST_PAGE });
      this._merge(res.lines);
      this.exhausted = !res.has_more;
      this.floor = this.exhausted ? 0 : res.lines[0].seq;
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
    if (!this.matches(line)) return;
    if (this.loading) this.pending.push(line);
    else this._merge([line]);
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

  ensure(i0) {
    if (i0 < 200 && this.loaded && !this.loading && !this.exhausted) this.loadEarlier();
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
        const hi = this.floor;
        const lo = Math.max(0, hi - 1 - span);
        let cursor = lo;
        const got = [];
        while (cursor < hi - 1) {
          const res = await this.v.api.logs({ ...this.params(), after: cursor, tail: LIST_PAGE });
          const inRange = res.lines.filter((l) => l.seq < hi);
          got.push(...inRange);
          if (!res.has_more || inRange.length < res.lines.length) break;
          cursor = res.lines[res.lines.length - 1].seq;
        }
        this._merge(got);
        this.floor = lo + 1;
        this.exhausted = lo === 0;
        span *= 4;
      }
    } catch (err) {
      this.error = err.message;
      this.exhausted = true;
    } finally {
      this.loading = false;
      this._merge(this.pending.splice(0));
      this.v.onListGrew(oldFirst ? this.indexOfSeq(oldFirst) : this.lines.length);
    }
  }
}
