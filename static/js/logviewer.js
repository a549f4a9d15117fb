// The live log viewer: a virtualized list of a job's lines (only the visible rows are in
// the DOM), fed by the job websocket and the logs API. See lv-sources.js for where rows
// come from, lv-socket.js for the gapless reconnect, lv-render.js for ANSI and escaping,
// lv-controls.js for the event wiring.
import { FINAL_STATUSES, csrfToken, formatDateTime, setBadge, setConn } from "./common.js";
import { Api } from "./lv-api.js";
import { bindControls } from "./lv-controls.js";
import { hitsLabel, listNotice } from "./lv-filters.js";
import { FullSource, LineCache } from "./lv-sources.js";
import { JobSocket } from "./lv-socket.js";
import {
  ansiToHtml,
  applyAnsiStyles,
  highlight,
  isTruncated,
  makeRow,
  openLinksElsewhere,
  rowHtml,
  shortTime,
  testLine,
} from "./lv-render.js";

const TAIL_ON_OPEN = 2000; // a finished job opens with its last lines; older ones load on scroll
const MAX_SCROLL_PX = 15000000; // browsers cap element height; above this the scrollbar is scaled
const OVERSCAN = 2;

export class LogViewer {
  constructor(root) {
    this.root = root;
    this.el = {};
    for (const e of root.querySelectorAll("[data-lv]")) this.el[e.dataset.lv] = e;
    this.boot = JSON.parse(document.getElementById(root.dataset.boot).textContent);
    this.jobId = this.boot.job_id;
    this.api = new Api(this.jobId, csrfToken(root));
    this.lastSeq = this.boot.last_seq;
    this.lineCount = this.boot.line_count;
    this.status = this.boot.status;
    this.cache = new LineCache();
    this.full = new FullSource(this);
    this.source = this.full;
    this.follow = true;
    this.rows = [];
    this.rowH = 18;
    this.spacerH = -1;
    this.programmaticTop = -1;
    this.first = 0;
    this.visibleCount = 0;
    this.raf = 0;
    this.ensureTimer = 0;
    this.level = "";
    this.stream = "";
    this.only = false;
    this.q = "";
    this.hitRe = null;
    this.hits = [];
    this.hitSet = new Set();
    this.hitIndex = -1;
    this.hitsCapped = false;
    this.currentHitSeq = 0;
    this.searchToken = 0;
    this.hlVersion = 0;
    this.selectedSeq = 0;
    this.socket = new JobSocket({
      jobId: this.jobId,
      after: Math.max(0, this.lastSeq - TAIL_ON_OPEN),
      onLines: (lines) => this.onLines(lines),
      onStatus: (msg) => this.onStatus(msg),
      onEnd: (msg) => this.onEnd(msg),
      onState: (state, text) => setConn(this.el.conn, state, text),
    });
  }

  start() {
    this.rowH = this._measureRow();
    if ("fit" in this.root.dataset) {
      this.fitHeight();
      window.addEventListener("resize", () => this.fitHeight());
      // Whatever sits above the pane (error, notice, a wrapping toolbar) changes its top.
      const above = new ResizeObserver(() => this.fitHeight());
      for (const el of this.root.querySelectorAll(".lv-strip, .lv-toolbar, [data-lv=error], [data-lv=notice]")) above.observe(el);
    }
    bindControls(this);
    this._showStatus(this.boot);
    if (this.boot.cancel_requested) this._cancelRequested();
    if (this.boot.logs_expired) this.notify("The lines of this job have expired (log retention).", "warn", true);
    this.render();
    const target = this.hashSeq();
    if (target) this.select(target, { jump: true });
    window.livchatViewer = this.hooks();
    this.socket.start();
  }

  // For tests, benchmarks and the curious: window.livchatViewer.
  hooks() {
    return {
      viewer: this,
      stats: () => ({
        ...this.socket.stats,
        cursor: this.socket.cursor,
        lastSeq: this.lastSeq,
        status: this.status,
        ended: this.socket.ended,
        follow: this.follow,
        domRows: this.el.rows.querySelectorAll(".lv-row:not([hidden])").length,
      }),
      dropConnection: (opts) => this.socket.drop(opts),
      jumpTo: (seq) => this.jumpTo(seq),
      onRender: null,
    };
  }

  // On the job page the pane fills the window below the chrome, detail panel included.
  fitHeight() {
    const top = this.el.pane.getBoundingClientRect().top + window.scrollY;
    const below = this.el.detail.hidden ? 0 : this.el.detail.getBoundingClientRect().height;
    const h = Math.max(280, window.innerHeight - top - below - 12);
    this.el.pane.style.height = `${Math.floor(h)}px`;
  }

  _measureRow() {
    const probe = makeRow();
    probe._m.textContent = "x";
    this.el.rows.append(probe);
    const h = probe.getBoundingClientRect().height;
    probe.remove();
    return h > 0 ? h : 18;
  }

  // ---- incoming ------------------------------------------------------------------------
  onLines(lines) {
    const list = this.source.kind === "list" ? this.source : null;
    const searching = this.q && this.hitRe && this.searchDone;
    for (const line of lines) {
      this.cache.put(line);
      if (list) list.offer(line);
      if (searching && testLine(this.hitRe, line.message) && !this.hitSet.has(line.seq)) {
        this.hits.push(line.seq);
        this.hitSet.add(line.seq);
      }
    }
    const last = lines[lines.length - 1].seq;
    if (last > this.lastSeq) this.lastSeq = last;
    if (list) this.cache.evict(new Set([this.cache.blockOf(last)])); // FullSource.ensure does it otherwise
    this.lineCount = Math.max(this.lineCount, this.lastSeq);
    this.el.lines.textContent = this.lineCount;
    if (searching) hitsLabel(this);
    if (list && list.loaded) listNotice(this);
    this.scheduleRender();
  }

  onStatus(msg) {
    this.lineCount = Math.max(this.lineCount, msg.line_count || 0);
    this._showStatus(msg);
  }

  onEnd(msg) {
    this.status = msg.status;
    if (msg.last_seq > this.lastSeq) this.lastSeq = msg.last_seq;
    this._showStatus({ status: msg.status });
    this.scheduleRender();
    // The socket does not carry the error text or times; read them once.
    this.api
      .job()
      .then((job) => {
        this._showStatus(job);
        for (const el of document.querySelectorAll("[data-lv-job]")) {
          const v = job[el.dataset.lvJob];
          if (v !== undefined) el.textContent = el.dataset.lvJob.endsWith("_at") ? formatDateTime(v) : v;
        }
      })
      .catch(() => {});
  }

  _showStatus(s) {
    if (s.status) {
      this.status = s.status;
      setBadge(this.el.status, s.status);
      const final = FINAL_STATUSES.has(s.status);
      this.el.cancel.hidden = final || !this.boot.can_cancel;
      this.el.follow.textContent = final ? "↓ Jump to bottom" : "↓ Follow";
    }
    if (s.progress !== undefined) {
      this.el.progress.textContent = s.progress;
      this.el["progress-bar"].style.width = `${Math.max(0, Math.min(100, s.progress))}%`;
    }
    if (s.current_step !== undefined) this.el.step.textContent = s.current_step || "";
    if (s.exit_code !== undefined) this.el.exit.textContent = s.exit_code === null ? "–" : s.exit_code;
    this.el.lines.textContent = Math.max(this.lineCount, this.lastSeq);
    if (s.error !== undefined) {
      this.el.error.textContent = s.error || "";
      this.el.error.hidden = !s.error;
    }
  }

  // ---- rendering -------------------------------------------------------------------------
  scheduleRender() {
    if (!this.raf) this.raf = requestAnimationFrame(() => this.render());
  }

  _layout() {
    const n = this.source.count();
    const h = Math.min(n * this.rowH, MAX_SCROLL_PX);
    if (h !== this.spacerH) {
      this.spacerH = h;
      this.el.spacer.style.height = `${h}px`;
    }
    this.root.style.setProperty("--lv-gutter", `${String(Math.max(this.lastSeq, 9)).length + 1}ch`);
    return n;
  }

  _scaled(n) {
    return n * this.rowH > MAX_SCROLL_PX;
  }

  _topRow(n) {
    const pane = this.el.pane;
    if (!this._scaled(n)) return pane.scrollTop / this.rowH;
    const maxTop = this.spacerH - pane.clientHeight;
    const maxRow = n - pane.clientHeight / this.rowH;
    return maxTop > 0 ? (pane.scrollTop / maxTop) * maxRow : 0;
  }

  _scrollToRow(row) {
    const pane = this.el.pane;
    const n = this.source.count();
    let top = row * this.rowH;
    if (this._scaled(n)) {
      const maxRow = n - pane.clientHeight / this.rowH;
      top = maxRow > 0 ? (row / maxRow) * (this.spacerH - pane.clientHeight) : 0;
    }
    this._setScrollTop(top);
  }

  _setScrollTop(top) {
    this.el.pane.scrollTop = top;
    this.programmaticTop = this.el.pane.scrollTop;
  }

  render() {
    this.raf = 0;
    const pane = this.el.pane;
    const n = this._layout();
    if (this.follow) this._setScrollTop(pane.scrollHeight);
    const f = this._topRow(n);
    const first = Math.max(0, Math.floor(f));
    const count = Math.max(0, Math.min(Math.ceil(pane.clientHeight / this.rowH) + OVERSCAN, n - first));
    this.el.rows.style.transform = `translateY(${pane.scrollTop - (f - first) * this.rowH}px)`;
    while (this.rows.length < count) {
      const row = makeRow();
      this.el.rows.append(row);
      this.rows.push(row);
    }
    for (let k = 0; k < this.rows.length; k++) {
      const row = this.rows[k];
      if (k < count) {
        row.hidden = false;
        this._fill(row, first + k);
      } else if (!row.hidden) {
        row.hidden = true;
        row._key = "";
      }
    }
    this.first = first;
    this.visibleCount = count;
    this.el.follow.hidden = this.follow || n * this.rowH <= pane.clientHeight;
    this.el.empty.hidden = n > 0;
    if (n === 0) this.el.empty.textContent = this._emptyText();
    this._scheduleEnsure(first, first + count);
    const hooks = window.livchatViewer;
    if (hooks && typeof hooks.onRender === "function") hooks.onRender(this);
  }

  _emptyText() {
    if (this.source.kind === "list") return this.source.loaded ? "No matching lines." : "Loading…";
    return FINAL_STATUSES.has(this.status) ? "This job wrote no output." : "Waiting for output…";
  }

  _fill(row, i) {
    const line = this.source.lineAt(i);
    if (!line) {
      const seq = this.source.seqAt(i);
      const state = this.source.placeholder(i);
      const key = `p${seq}${state}`;
      if (row._key === key) return;
      row._key = key;
      row.className = "lv-row lv-ph";
      row.dataset.seq = seq;
      row._n.textContent = seq;
      row._n.href = `#L${seq}`;
      row._t.textContent = "";
      row._h.textContent = "";
      row._m.textContent = state === "missing" ? "(line not stored: expired or removed)" : "…";
      return;
    }
    const seq = line.seq;
    const hit = this.hitSet.has(seq);
    const key = `${seq}|${this.hlVersion}|${hit}|${seq === this.currentHitSeq}|${seq === this.selectedSeq}`;
    if (row._key === key) return;
    row._key = key;
    let cls = `lv-row lv-l-${line.level} lv-s-${line.stream}`;
    if (hit) cls += " lv-hit";
    if (seq === this.currentHitSeq) cls += " lv-cur";
    if (seq === this.selectedSeq) cls += " lv-sel";
    if (isTruncated(line)) cls += " lv-trunc";
    row.className = cls;
    row.dataset.seq = seq;
    row._n.textContent = seq;
    row._n.href = `#L${seq}`;
    row._t.textContent = shortTime(line);
    row._t.title = line.ts;
    row._h.textContent = line.host || "";
    const html = rowHtml(line);
    row._m.innerHTML = html; // ansi_up escapes every character of the output
    if (html.includes("data-ansi-style")) applyAnsiStyles(row._m);
    if (html.includes("<a ")) openLinksElsewhere(row._m);
    if (this.hitRe) highlight(row._m, this.hitRe);
  }

  _scheduleEnsure(i0, i1) {
    this.ensureRange = [i0, i1];
    if (this.ensureTimer) return;
    this.ensureTimer = setTimeout(() => {
      this.ensureTimer = 0;
      this.source.ensure(...this.ensureRange);
    }, 40);
  }

  // ---- following, jumping, selecting ----------------------------------------------------
  setFollow(on) {
    if (this.follow === on) return;
    this.follow = on;
    this.root.classList.toggle("lv-following", on);
    this.scheduleRender();
  }

  jumpTo(seq) {
    this.setFollow(false);
    this._layout();
    const i = this.source.indexOfSeq(seq);
    const half = Math.floor(this.el.pane.clientHeight / this.rowH / 2);
    this._scrollToRow(Math.max(0, i - half));
    this.render();
  }

  select(seq, { jump = false } = {}) {
    this.selectedSeq = seq;
    if (jump) {
      const i = this.source.indexOfSeq(seq);
      const visible = this.source.seqAt(i) === seq && i >= this.first && i < this.first + this.visibleCount - OVERSCAN;
      if (visible) this.setFollow(false);
      else this.jumpTo(seq);
    }
    const line = this.cache.get(seq) || (this.source.kind === "list" ? this.source.lineAt(this.source.indexOfSeq(seq)) : null);
    if (line && line.seq === seq) this._showDetail(line);
    this.scheduleRender();
  }

  _showDetail(line) {
    const tags = [line.host && `host ${line.host}`, line.task && `task ${line.task}`, line.event].filter(Boolean);
    this.el["detail-meta"].textContent = [`#${line.seq}`, line.ts, line.level, line.stream, ...tags].join(" · ");
    this.el["detail-text"].innerHTML = ansiToHtml(line.message);
    applyAnsiStyles(this.el["detail-text"]);
    openLinksElsewhere(this.el["detail-text"]);
    this.detailLine = line;
    this.el.detail.hidden = false;
    if ("fit" in this.root.dataset) this.fitHeight();
  }

  hashSeq() {
    const m = location.hash.match(/^#L(\d+)$/);
    return m ? Number(m[1]) : 0;
  }

  anchorSeq() {
    return this.source.count() ? this.source.seqAt(this.first + Math.floor(this.visibleCount / 2)) : 0;
  }

  onListGrew(prepended) {
    if (prepended > 0 && !this.follow) {
      const top = this._topRow(this.source.count() - prepended);
      this._layout();
      this._scrollToRow(top + prepended); // the same line stays at the top
    }
    listNotice(this);
    this.scheduleRender();
  }

  // ---- messages and actions -------------------------------------------------------------
  notify(text, kind = "info", sticky = false) {
    const el = this.el.notice;
    el.textContent = text;
    el.dataset.kind = kind;
    el.hidden = false;
    clearTimeout(this.noticeTimer);
    if (!sticky) this.noticeTimer = setTimeout(() => this.hideNotice(), 8000);
  }

  hideNotice() {
    this.el.notice.hidden = true;
  }

  _cancelRequested() {
    this.el.cancel.disabled = true;
    this.el.cancel.textContent = "Cancel requested…";
  }

  async cancel() {
    if (!window.confirm(`Cancel ${this.jobId}? The remote command will be killed.`)) return;
    this.el.cancel.disabled = true;
    try {
      await this.api.cancel();
      this._cancelRequested();
    } catch (err) {
      this.el.cancel.disabled = false;
      this.notify(`Cancel failed: ${err.message}`, "error");
    }
  }
}
