// The live log viewer: a virtualized list of a job's lines (only the visible rows are in
// the DOM), fed by the job websocket and the logs API. It owns the job's identity, the
// line cache, which source is shown and the selected line, and wires the parts:
//   lv-socket.js   JobSocket: the websocket, gapless across reconnects
//   lv-sources.js  LineCache, FullSource (every seq), ListSource (a filtered list)
//   lv-scroll.js   RowWindow: the pane, scrolling, follow mode, the row pool (lv-row.js)
//   lv-filters.js  LogFilters: level/stream filters and running the search
//   lv-search.js   LogSearch: the search state (query, hits, current hit)
//   lv-status.js   StatusBar (status, progress, cancel) and Notice
//   lv-detail.js   DetailPanel: the selected line in full
//   lv-controls.js the toolbar's events
//   lv-hosts.js    a job on several servers: the host table, host filter, grouped order
//   lv-partial.js  PartialLine: the line being redrawn with \r, under the last row
// The parts never read each other's fields: they call methods, or the callbacks given to
// their constructors. When the job ends, onEnded(jobId, status) is called once (jobpage.js
// turns it into the `livchat:job-ended` event); onStatusChange(jobId, status) on each new
// status (the `livchat:job-status` event).
import { offsetLabel } from "./clock.js";
import { FINAL_STATUSES, csrfToken, setConn } from "./common.js";
import { Api } from "./lv-api.js";
import { bindControls, lineFromHash } from "./lv-controls.js";
import { DetailPanel } from "./lv-detail.js";
import { LogFilters } from "./lv-filters.js";
import { HostTable, bindHostControls } from "./lv-hosts.js";
import { RowWindow } from "./lv-scroll.js";
import { LogSearch } from "./lv-search.js";
import { JobSocket } from "./lv-socket.js";
import { PartialLine } from "./lv-partial.js";
import { FullSource, LineCache, isProblem, isSevere } from "./lv-sources.js";
import { Notice, StatusBar } from "./lv-status.js";

const TAIL_ON_OPEN = 2000; // a finished job opens with its last lines; older ones load on scroll
const WRAP_KEY = "livchat.logviewer.wrap"; // the wrap toggle, remembered per browser

function remembered(key) {
  try {
    return window.localStorage.getItem(key) === "1";
  } catch {
    return false; // storage refused (privacy mode): the default
  }
}

function remember(key, on) {
  try {
    window.localStorage.setItem(key, on ? "1" : "0");
  } catch {
    // not remembered: the toggle still works for this page
  }
}

export class LogViewer {
  constructor(root, { onEnded = () => {}, onStatusChange = () => {} } = {}) {
    this.root = root;
    this.fit = "fit" in root.dataset; // the job page: the pane fills the window
    const elements = {};
    for (const el of root.querySelectorAll("[data-lv]")) elements[el.dataset.lv] = el;
    this.elements = elements;
    const boot = JSON.parse(document.getElementById(root.dataset.boot).textContent);
    boot.job_type = boot.job_type || root.dataset.jobType;
    this.boot = boot;
    this.countedUpTo = boot.last_seq; // the page's problem count covers the lines up to here
    this.jobId = boot.job_id;
    this.onEnded = onEnded;
    this.onStatusChange = onStatusChange; // (jobId, status) on each new status (jobpage.js)
    this.shownStatus = null;
    this.endAnnounced = false;
    this.selectedSeq = 0;
    this.api = new Api(this.jobId, csrfToken(root));
    this.cache = new LineCache();
    this.notice = new Notice(elements.notice);
    this.partial = new PartialLine();
    this.socket = new JobSocket({
      jobId: this.jobId,
      after: Math.max(0, boot.last_seq - TAIL_ON_OPEN),
      onLines: (lines) => this.onLines(lines),
      onStatus: (message) => this.onStatus(message),
      onEnd: (message) => this.onEnd(message),
      onPartial: (message) => this.partial.offer(message) && this.scheduleRender(),
      onState: (state, text) => setConn(elements.conn, state, text),
    });
    this.full = new FullSource({
      cache: this.cache,
      api: this.api,
      lastSeq: boot.last_seq,
      liveAfter: () => (this.socket.isHealthy() ? this.socket.lastDelivered() : null),
      onLoaded: () => this.scheduleRender(),
      onError: (text) => this.notice.show(text, "error"),
    });
    this.source = this.full; // or the ListSource of a filter
    this.statusBar = new StatusBar({ elements, boot, jobId: this.jobId, api: this.api, notice: this.notice });
    this.detail = new DetailPanel({
      elements,
      onResize: () => this.fitHeight(),
      onClose: () => this.select(0),
    });
    this.rowWindow = new RowWindow({
      elements,
      source: this.source,
      paint: (row, index) => this._paint(row, index),
      emptyText: () => this.source.emptyText(this.statusBar.isFinal()),
      onRender: () => this._rendered(),
      onFollow: (on) => root.classList.toggle("lv-following", on),
      onPick: (seq) => this.select(seq),
      wrapped: () => this.wrapped,
    });
    this.wrapped = false;
    this.search = new LogSearch();
    this.filters = new LogFilters({
      api: this.api,
      search: this.search,
      rows: this.rowWindow,
      notice: this.notice,
      hitsLabel: elements.hits,
      onSource: (list) => this._useSource(list || this.full),
    });
    // For tests, benchmarks and the curious: window.livchatViewer (set by start()).
    this.hooks = {
      viewer: this,
      stats: () => ({
        ...this.socket.statistics(),
        lastSeq: this.full.lastSeq(),
        status: this.statusBar.status(),
        follow: this.rowWindow.isFollowing(),
        domRows: this.rowWindow.domRowCount(),
        partial: this.partial.text(),
      }),
      dropConnection: (options) => this.socket.drop(options),
      jumpTo: (seq) => this.jumpTo(seq),
      onRender: null,
    };
  }

  start() {
    this.rowWindow.start();
    // The partial line shows in the whole log only: a filter's list may not reach its place.
    this.rowWindow.setTail({
      element: this.partial.element,
      wanted: () => this.source === this.full && this.partial.isShown(),
    });
    if (this.fit) {
      this.fitHeight();
      window.addEventListener("resize", () => this.fitHeight());
      // Whatever sits above the pane (error, notice, a wrapping toolbar) changes its top.
      const above = new ResizeObserver(() => this.fitHeight());
      const selector = ".lv-strip, .lv-toolbar, [data-lv=error], [data-lv=notice]";
      for (const el of this.root.querySelectorAll(selector)) above.observe(el);
    }
    this.statusBar.bind();
    this.detail.bind();
    this.setWrap(remembered(WRAP_KEY), { save: false });
    this._showZone();
    bindControls({ elements: this.elements, filters: this.filters, viewer: this });
    // A playbook's task output (DEBUG detail rows) waits behind the "task output" toggle.
    if (this.elements.details) this.filters.setDetails(false);
    const hostTable = document.getElementById("fleet-hosts");
    if (this.boot.hosts) {
      const hosts = this.boot.hosts;
      bindHostControls({ elements: this.elements, filters: this.filters, hosts, table: hostTable });
    }
    if (hostTable) new HostTable({ element: hostTable, api: this.api, isFinal: () => this.statusBar.isFinal() }).start();
    this._showStatus(this.boot);
    if (this.boot.cancel_requested) this.statusBar.cancelRequested();
    if (this.boot.logs_expired) this.notice.show("The lines of this job have expired (log retention).", "warn", true);
    this._updateGutter();
    this.render();
    const target = lineFromHash();
    if (target && this.goToLine(target)) this.select(target, { jump: true });
    window.livchatViewer = this.hooks;
    this.socket.start();
  }

  // On the job page the pane fills the window below the chrome, detail panel included.
  fitHeight() {
    if (this.fit) this.rowWindow.fitToWindow(this.detail.height());
  }

  // ---- incoming ------------------------------------------------------------------------
  onLines(lines) {
    let problems = 0;
    let severe = false;
    for (const line of lines) {
      this.cache.put(line);
      if (line.seq > this.countedUpTo) {
        this.countedUpTo = line.seq;
        if (isProblem(line)) problems += 1;
        severe = severe || isSevere(line);
      }
    }
    if (problems) this.statusBar.addProblems(problems, severe);
    this.partial.linesArrived(lines);
    this.filters.offer(lines); // the filtered list and the search take those that match
    const last = lines[lines.length - 1].seq;
    this.full.extendTo(last);
    if (this.source !== this.full) this.cache.evictAllBut(last); // FullSource.ensure does it otherwise
    this.statusBar.showLineCount(this.full.lastSeq());
    this._updateGutter();
    this.scheduleRender();
  }

  onStatus(message) {
    this.statusBar.showLineCount(message.line_count || 0);
    this._showStatus(message);
    this.statusBar.showJobFields(message); // Started/Finished in the header, as they happen
  }

  onEnd(message) {
    this.partial.clear();
    this.full.extendTo(message.last_seq);
    this._showStatus({ status: message.status });
    this._updateGutter();
    this.scheduleRender();
    // The socket does not carry the error text or times; read them once.
    this.api
      .job()
      .then((job) => {
        this._showStatus(job);
        this.statusBar.showJobFields(job);
      })
      .catch(() => {});
  }

  _showStatus(state) {
    this.statusBar.show(state);
    this.statusBar.showLineCount(this.full.lastSeq());
    if (!state.status) return;
    if (state.status !== this.shownStatus) {
      this.shownStatus = state.status;
      this.onStatusChange(this.jobId, state.status);
    }
    const final = FINAL_STATUSES.has(state.status);
    this.rowWindow.setFollowLabel(final ? "↓ Jump to bottom" : "↓ Follow");
    if (final && !this.endAnnounced) {
      this.endAnnounced = true;
      this.onEnded(this.jobId, state.status);
    }
  }

  // ---- rendering -------------------------------------------------------------------------
  render() {
    this.rowWindow.render();
  }

  scheduleRender() {
    this.rowWindow.scheduleRender();
  }

  _useSource(source) {
    this.source = source;
    this.rowWindow.setSource(source);
  }

  _updateGutter() {
    const digits = String(Math.max(this.full.lastSeq(), 9)).length + 1;
    this.root.style.setProperty("--lv-gutter", `${digits}ch`);
  }

  _paint(row, index) {
    const line = this.source.lineAt(index);
    if (!line) {
      row.showPlaceholder(this.source.seqAt(index), this.source.placeholder(index));
      return;
    }
    const seq = line.seq;
    row.showLine(line, {
      hit: this.search.has(seq),
      current: this.search.isCurrent(seq),
      selected: seq === this.selectedSeq,
      version: this.search.version(),
      regex: this.search.regex(),
    });
  }

  _rendered() {
    if (typeof this.hooks.onRender === "function") this.hooks.onRender(this);
  }

  showTimestamps(on) {
    this.root.classList.toggle("lv-no-ts", !on);
  }

  isWrapped() {
    return this.wrapped;
  }

  // Long lines wrap in the pane (on) or are cut with "…" (off); remembered in localStorage.
  setWrap(on, { save = true } = {}) {
    this.wrapped = Boolean(on);
    this.root.classList.toggle("lv-wrap", this.wrapped);
    const toggle = this.elements.wrap;
    if (toggle) toggle.setAttribute("aria-pressed", String(this.wrapped));
    if (save) remember(WRAP_KEY, this.wrapped);
    this.rowWindow.repaintAll();
  }

  // The row times are the browser's local time: the toolbar names the zone's offset (at
  // the job's start: a job that runs across a DST change has the exact one in each tooltip).
  _showZone() {
    const label = this.elements["ts-zone"];
    const started = this.boot.started_at ? new Date(this.boot.started_at) : new Date();
    if (label) label.textContent = offsetLabel(Number.isNaN(started.getTime()) ? new Date() : started);
  }

  // ---- jumping and selecting -------------------------------------------------------------
  jumpTo(seq) {
    this.rowWindow.jumpTo(seq);
  }

  // "Go to line": true when it went there; a line past the end is said, and nothing moves.
  goToLine(seq) {
    const last = this.full.lastSeq();
    if (seq > last) {
      const count = `${last.toLocaleString()} line${last === 1 ? "" : "s"}`;
      this.notice.show(`Line ${seq} does not exist: the log has ${count}.`, "warn");
      return false;
    }
    return true;
  }

  // Select a line (0: none) and show it in the detail panel; `jump` brings it into view.
  select(seq, { jump = false } = {}) {
    this.selectedSeq = seq;
    if (seq && jump) {
      if (this.rowWindow.shows(seq)) this.rowWindow.setFollow(false);
      else this.rowWindow.jumpTo(seq);
    }
    const line = seq ? this.cache.get(seq) || this.source.lineOf(seq) : null;
    if (line && line.seq === seq) this.detail.show(line);
    this.scheduleRender();
  }
}
