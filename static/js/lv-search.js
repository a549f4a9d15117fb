// The search state: the query, its browser regex (for highlights and live lines), the
// matching seqs the logs API found (plus live ones), and which match is current.
// lv-filters.js runs the search; the rows only ask has/isCurrent/regex/version.
// Matching is on the text a person sees (escape codes out), as the server's `q` does.
import { testLine, toJsRegex } from "./lv-pattern.js";

export const MAX_HITS = 10000; // the API's largest `tail`

export class LogSearch {
  constructor() {
    this.text = ""; // the query as typed (trimmed); "" when not searching
    this.re = null; // toJsRegex(text): null when empty or not sure in JavaScript (the server decides)
    this.hits = []; // matching seqs, ascending
    this.hitSet = new Set();
    this.index = -1; // the current match in `hits`; -1 when none
    this.capped = false; // the API returned MAX_HITS: older matches were left out
    this.currentSeq = 0;
    this.complete = false; // the API answered: live lines may now add matches
    this.early = []; // live lines that came while the API was asked: tested once it answers
    this.generation = 0; // bumped by every new search: stale answers are dropped
    this.paintVersion = 0; // bumped by every new search: rows repaint their highlights
  }

  query() {
    return this.text;
  }

  regex() {
    return this.re;
  }

  version() {
    return this.paintVersion;
  }

  has(seq) {
    return this.hitSet.has(seq);
  }

  isCurrent(seq) {
    return seq === this.currentSeq;
  }

  hasHits() {
    return this.hits.length > 0;
  }

  // Start a new search for `text`: forget the old matches. Returns a token for isStale().
  begin(text) {
    this.generation += 1;
    this.text = text;
    this.re = toJsRegex(text);
    this.paintVersion += 1;
    this.hits = [];
    this.hitSet = new Set();
    this.index = -1;
    this.currentSeq = 0;
    this.complete = false;
    this.early = [];
    return this.generation;
  }

  isStale(token) {
    return token !== this.generation;
  }

  // The API's answer. Returns false when there is nothing to go to.
  setHits(seqs, capped) {
    this.hits = seqs;
    this.hitSet = new Set(seqs);
    this.capped = capped;
    this.complete = true;
    // The answer may have been read before these were stored: test them too.
    const early = this.early;
    this.early = [];
    this.offer(early);
    return this.hits.length > 0;
  }

  // A search the browser cannot run on live lines: the server is asked about them.
  needsServer() {
    return Boolean(this.text) && !this.re && this.complete;
  }

  // Matching seqs the server found after the first answer (live lines), ascending.
  addHits(seqs) {
    let added = false;
    for (const seq of seqs) {
      if (this.hitSet.has(seq)) continue;
      this.hits.push(seq);
      this.hitSet.add(seq);
      added = true;
    }
    if (added) this.hits.sort((a, b) => a - b);
    return added;
  }

  // Live lines that match join the hits. True when the search is live (the label may change).
  offer(lines) {
    if (!this.text || !this.re) return false;
    if (!this.complete) {
      if (this.early.length < MAX_HITS) this.early.push(...lines);
      return false;
    }
    for (const line of lines) {
      if (testLine(this.re, line.message) && !this.hitSet.has(line.seq)) {
        this.hits.push(line.seq);
        this.hitSet.add(line.seq);
      }
    }
    return true;
  }

  // The first match from the top of the view down (`topSeq`), like "next" does; the very
  // first match when none is below. Returns its seq.
  first(topSeq) {
    const below = this.hits.findIndex((seq) => seq >= topSeq);
    return this._goto(below < 0 ? 0 : below);
  }

  // Next (+1) or previous (-1) match, wrapping around. Returns its seq, 0 when none.
  step(delta) {
    if (!this.hits.length) return 0;
    return this._goto((this.index + delta + this.hits.length) % this.hits.length);
  }

  _goto(index) {
    this.index = index;
    this.currentSeq = this.hits[index];
    return this.currentSeq;
  }

  // "3 / 120", "3 / 10,000+ (latest)", "no matches".
  label() {
    if (!this.hits.length) return "no matches";
    const total = `${this.hits.length.toLocaleString()}${this.capped ? "+" : ""}`;
    return `${this.index >= 0 ? this.index + 1 : "–"} / ${total}${this.capped ? " (latest)" : ""}`;
  }
}
