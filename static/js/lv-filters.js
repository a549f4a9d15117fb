// Level/stream filters, the problems view and the search, run against the logs API.
//  The problems view is a preset: WARNING and above OR stderr (`problems=true`); it
//  replaces the level and stream filters, and choosing either of those ends it.
//  A filter (level, stream, or "only matches" with a query) shows an exact ListSource
//  from the API, kept up to date with live lines; no filter shows the full log again.
//  A search asks the API for the matching seqs (LogSearch keeps them), highlights them in
//  the rows and moves between them with next/previous. It runs as the user types (the
//  toolbar debounces) and on Enter. Live lines join the matches in the browser, or, for a
//  pattern only the server can run, by asking the server (lv-catchup.js).
//  The notice band above the pane describes a list the user asked for; a playbook's hidden
//  task output (an implicit "≥ info") is no filter of theirs and gets no band.
// Owns: level, stream, problems, onlyMatches, the current list, the hits label. Talks to the row
// window (RowWindow) through its methods and tells the viewer which source to show.
import { ServerCatchUp } from "./lv-catchup.js";
import { GroupedSource } from "./lv-hosts.js";
import { ListSource } from "./lv-sources.js";
import { MAX_HITS } from "./lv-search.js";

export class LogFilters {
  // api: lv-api.js; search: LogSearch; rows: RowWindow; notice: Notice;
  // hitsLabel: the element that counts the matches;
  // onSource(list): show this ListSource, or the full log when null.
  constructor({ api, search, rows, notice, hitsLabel, onSource }) {
    Object.assign(this, { api, search, rows, notice, hitsLabel, onSource });
    this.level = "";
    this.stream = "";
    this.problems = false;
    this.onlyMatches = false;
    this.list = null; // the ListSource shown, null when the full log is
    this.host = ""; // one host's lines only (a job on several servers)
    this.hosts = null; // grouped by host: the hosts in their order; null: interleaved (seq order)
    this.details = true; // a playbook's task output (DEBUG detail rows) shown; off: at least INFO
    this.searching = ""; // the query whose API answer is awaited ("" when none)
    this.searchCatchUp = null; // a ServerCatchUp while the server decides which live lines match
    this.lastOffered = 0; // the newest live line seen
    this.banded = false; // the notice shows this list's band (other notices are left alone)
  }

  showsDetails() {
    return this.details;
  }

  // Off hides the DEBUG rows (what each playbook task printed) unless a level is chosen.
  setDetails(on) {
    this.details = Boolean(on);
    this.refilter();
  }

  // The minimum level asked of the API: the chosen one, else INFO while details are hidden.
  _level() {
    return this.level || (this.details || this.problems ? "" : "INFO");
  }

  setHost(host) {
    this.host = host || "";
    this.refilter();
  }

  // hosts: the job's hosts in the order their groups are shown, or null for one seq order.
  setGrouped(hosts) {
    this.hosts = hosts && hosts.length ? hosts : null;
    this.refilter();
  }

  setLevel(level) {
    this.level = level;
    if (level) this.problems = false;
    this.refilter();
  }

  setStream(stream) {
    this.stream = stream;
    if (stream) this.problems = false;
    this.refilter();
  }

  showsProblems() {
    return this.problems;
  }

  // On: only problems (the level and stream filters are cleared); off: every line.
  setProblems(on) {
    this.problems = Boolean(on);
    if (this.problems) {
      this.level = "";
      this.stream = "";
    }
    this.refilter();
  }

  // `text`: what the search box holds, which a pending (debounced) search may not have run yet.
  setOnlyMatches(on, text = this.search.query()) {
    this.onlyMatches = on;
    if (text === this.search.query()) return this.refilter();
    if (!on) this.refilter({ rerunSearch: false });
    return this.run(text); // with "only matches" on, the search filters too
  }

  // Live lines: those that match join the list shown and the search hits.
  offer(lines) {
    const list = this.list;
    this.lastOffered = Math.max(this.lastOffered, lines[lines.length - 1].seq);
    if (list) for (const line of lines) list.offer(line);
    if (this.search.offer(lines)) this._showHits(this.search.label());
    if (this.searchCatchUp) this.searchCatchUp.offer(lines[lines.length - 1].seq);
    if (list && list.isLoaded()) this._showSummary(list);
  }

  // A filter the user chose (the band above the pane describes its list).
  _userFiltered() {
    return Boolean(this.level || this.stream || this.problems || this.host || this.hosts || this._onlyMatching());
  }

  _onlyMatching() {
    return this.onlyMatches && Boolean(this.search.query());
  }

  async refilter({ rerunSearch = true } = {}) {
    const anchor = this.rows.isFollowing() ? 0 : this.rows.anchorSeq();
    const query = this.search.query();
    const narrowed = this._level() || this.stream || this.problems || this.host;
    const filtered = narrowed || this.hosts || (this.onlyMatches && query);
    if (this.list) this.list.stop();
    if (!filtered) {
      this.list = null;
      this.onSource(null);
      this._clearBand();
    } else {
      const List = this.hosts ? GroupedSource : ListSource;
      const list = new List({
        api: this.api,
        hosts: this.hosts,
        filter: {
          host: this.host,
          level: this._level(),
          stream: this.stream,
          problems: this.problems,
          q: this.onlyMatches ? query : "",
          re: this.onlyMatches ? this.search.regex() : null,
        },
        onGrew: (prepended) => this._listGrew(list, prepended),
        onAppended: () => this._listAppended(list),
      });
      this.list = list;
      this.onSource(list);
      if (this._userFiltered()) this._band("Loading matching lines…", "info");
      else this._clearBand();
      this.rows.render();
      await list.load();
      if (this.list !== list) return; // another filter replaced it meanwhile
      this._showSummary(list);
    }
    if (anchor) this.rows.jumpTo(anchor);
    else this.rows.followTail();
    const current = this.search.query();
    if (rerunSearch && current) this.run(current);
  }

  // Enter: a new query searches, the same one moves to the next (+1) or previous (-1) match
  // (while its answer is awaited, the answer goes to the first match: nothing to step yet).
  searchOrStep(text, delta) {
    if (text !== this.search.query()) this.run(text);
    else if (this.searching !== text) this.step(delta);
  }

  // Typing (debounced by the toolbar): a changed query searches, and goes to its first match.
  searchAsTyped(text) {
    if (text !== this.search.query()) this.run(text);
  }

  clearSearch() {
    if (this.search.query()) this.run("");
  }

  // The API parameters of the search `text` under the current filters.
  _searchParams(text) {
    const problems = this.problems ? "true" : "";
    return { q: text, level: this._level(), stream: this.stream, host: this.host, problems };
  }

  async run(text) {
    const token = this.search.begin(text);
    if (this.searchCatchUp) this.searchCatchUp.stop();
    this.searchCatchUp = null;
    this.searching = text;
    this._showHits("");
    if (this.onlyMatches) await this.refilter({ rerunSearch: false });
    if (this.search.isStale(token)) return; // typed on meanwhile: the newer search speaks
    if (!text) {
      this.searching = "";
      this.rows.scheduleRender();
      return;
    }
    this._showHits("searching…");
    let res;
    try {
      res = await this.api.logs({ ...this._searchParams(text), tail: MAX_HITS });
    } catch (err) {
      if (this.search.isStale(token)) return;
      this.searching = "";
      this._showHits(err.message, true); // the server's words: "Not a valid regular expression: …"
      this.rows.scheduleRender();
      return;
    }
    if (this.search.isStale(token)) return;
    this.searching = "";
    const found = this.search.setHits(
      res.lines.map((line) => line.seq),
      res.lines.length >= MAX_HITS,
    );
    if (this.search.needsServer()) this._followOnServer(text, token, res.last_seq);
    if (!found) {
      this._showHits(this.search.label());
      this.rows.scheduleRender();
      return;
    }
    this._goto(this.search.first(this.rows.topSeq()));
  }

  step(delta) {
    const seq = this.search.step(delta);
    if (seq) this._goto(seq);
  }

  _goto(seq) {
    this._showHits(this.search.label());
    this.rows.jumpTo(seq);
  }

  // Live lines for a pattern the browser cannot run: the server says which match.
  _followOnServer(text, token, askedUpTo) {
    const catchUp = new ServerCatchUp({
      read: (after) => this.api.logs({ ...this._searchParams(text), after, tail: MAX_HITS }),
      onLines: (lines) => {
        if (this.search.isStale(token)) return;
        if (this.search.addHits(lines.map((line) => line.seq))) {
          this._showHits(this.search.label());
          this.rows.scheduleRender();
        }
      },
    });
    catchUp.askedUpTo(askedUpTo);
    this.searchCatchUp = catchUp;
    catchUp.offer(this.lastOffered); // lines that came while the first answer was on its way
  }

  // One line next to the search box: the count, or why the search did not run (its whole
  // text in the tooltip too, when the toolbar has to cut it).
  _showHits(text, bad = false) {
    this.hitsLabel.textContent = text;
    this.hitsLabel.title = text;
    this.hitsLabel.classList.toggle("lv-bad", bad);
  }

  _showSummary(list) {
    const { text, kind } = list.summary();
    if (this._userFiltered() || kind === "error") this._band(text, kind);
    else this._clearBand();
  }

  _band(text, kind) {
    this.notice.show(text, kind, true);
    this.banded = true;
  }

  _clearBand() {
    if (this.banded) this.notice.hide();
    this.banded = false;
  }

  _listGrew(list, prepended) {
    if (this.list !== list) return; // a list no longer shown
    this.rows.keepTopAfterPrepend(prepended);
    this._showSummary(list);
  }

  _listAppended(list) {
    if (this.list !== list) return;
    this._showSummary(list);
    this.rows.scheduleRender();
  }
}
