// Level/stream filters, the problems view and the search, run against the logs API.
//  The problems view is a preset: WARNING and above OR stderr (`problems=true`); it
//  replaces the level and stream filters, and choosing either of those ends it.
//  A filter (level, stream, or "only matches" with a query) shows an exact ListSource
//  from the API, kept up to date with live lines; no filter shows the full log again.
//  A search asks the API for the matching seqs (LogSearch keeps them), highlights them in
//  the rows and moves between them with next/previous.
// Owns: level, stream, problems, onlyMatches, the current list, the hits label. Talks to the row
// window (RowWindow) through its methods and tells the viewer which source to show.
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

  setOnlyMatches(on) {
    this.onlyMatches = on;
    this.refilter();
  }

  // Live lines: those that match join the list shown and the search hits.
  offer(lines) {
    const list = this.list;
    if (list) for (const line of lines) list.offer(line);
    if (this.search.offer(lines)) this._showHits(this.search.label());
    if (list && list.isLoaded()) this._showSummary(list);
  }

  async refilter({ rerunSearch = true } = {}) {
    const anchor = this.rows.isFollowing() ? 0 : this.rows.anchorSeq();
    const query = this.search.query();
    const narrowed = this._level() || this.stream || this.problems || this.host;
    const filtered = narrowed || this.hosts || (this.onlyMatches && query);
    if (!filtered) {
      this.list = null;
      this.onSource(null);
      this.notice.hide();
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
      });
      this.list = list;
      this.onSource(list);
      this.notice.show("Loading matching lines…", "info", true);
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

  // Enter: a new query searches, the same one moves to the next (+1) or previous (-1) match.
  searchOrStep(text, delta) {
    if (text !== this.search.query()) this.run(text);
    else this.step(delta);
  }

  clearSearch() {
    if (this.search.query()) this.run("");
  }

  async run(text) {
    const token = this.search.begin(text);
    this.hitsLabel.classList.remove("lv-bad");
    if (this.onlyMatches) await this.refilter({ rerunSearch: false });
    if (!text) {
      this.hitsLabel.textContent = "";
      this.rows.scheduleRender();
      return;
    }
    this.hitsLabel.textContent = "searching…";
    let res;
    try {
      res = await this.api.logs({
        q: text,
        level: this._level(),
        stream: this.stream,
        host: this.host,
        problems: this.problems ? "true" : "",
        tail: MAX_HITS,
      });
    } catch (err) {
      if (this.search.isStale(token)) return;
      this._showHits(err.message, true);
      this.rows.scheduleRender();
      return;
    }
    if (this.search.isStale(token)) return;
    const found = this.search.setHits(
      res.lines.map((line) => line.seq),
      res.lines.length >= MAX_HITS,
    );
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

  _showHits(text, bad = false) {
    this.hitsLabel.textContent = text;
    if (bad) this.hitsLabel.classList.add("lv-bad");
  }

  _showSummary(list) {
    const { text, kind } = list.summary();
    this.notice.show(text, kind, true);
  }

  _listGrew(list, prepended) {
    if (this.list !== list) return; // a list no longer shown
    this.rows.keepTopAfterPrepend(prepended);
    this._showSummary(list);
  }
}
