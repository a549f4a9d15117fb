// The virtual list: a tall spacer gives the pane a scrollbar for every row of the
// source, and a few LogRows are moved and repainted to show the rows in view. Owns the
// pane's scrolling: follow mode (stick to the bottom), jumps, the row height, the pool.
import { LogRow } from "./lv-row.js";

const MAX_SCROLL_PX = 15000000; // browsers cap element height; above this the scrollbar is scaled
const OVERSCAN = 2;
const ENSURE_DELAY_MS = 40;

export class RowWindow {
  // elements: the viewer's [data-lv] map (pane, spacer, rows, follow, empty).
  // source: what to show (lv-sources.js), replaced with setSource().
  // paint(row, index): fill a LogRow with row `index` of the source.
  // emptyText(): what the empty pane says. onRender(): after every render.
  // onFollow(on): follow mode changed. onPick(seq): the user clicked a line.
  // wrapped(): long lines wrap, so a row may be taller than one line (see render()).
  constructor({ elements, source, paint, emptyText, onRender, onFollow, onPick, wrapped = () => false }) {
    this.pane = elements.pane;
    this.spacer = elements.spacer;
    this.rowBox = elements.rows;
    this.followButton = elements.follow;
    this.emptyBox = elements.empty;
    Object.assign(this, { source, paint, emptyText, onRender, onFollow, onPick, wrapped });
    this.following = true;
    this.rows = []; // the LogRow pool, in display order
    this.rowHeight = 18;
    this.spacerHeight = -1;
    this.programmaticTop = -1; // the scrollTop we set: a scroll event there is not the user's
    this.first = 0; // index of the first row shown
    this.visibleCount = 0;
    this.frame = 0;
    this.ensureTimer = 0;
    this.ensureRange = [0, 0];
    this.extra = 0; // wrapped rows: the height they add beyond one line each
    this.tail = null; // {element, wanted()}: a line shown under the last row (lv-partial.js)
  }

  // `tail.element` sits right under the last row, only when the view reaches the end and
  // `tail.wanted()`; the spacer grows by a row meanwhile so following keeps it in view.
  setTail(tail) {
    this.tail = tail;
    this.rowBox.append(tail.element);
  }

  _tailWanted() {
    return Boolean(this.tail) && this.tail.wanted();
  }

  start() {
    this.rowHeight = this._measureRow();
    this._bind();
  }

  setSource(source) {
    this.source = source;
  }

  isFollowing() {
    return this.following;
  }

  setFollow(on) {
    if (this.following === on) return;
    this.following = on;
    this.onFollow(on);
    this.scheduleRender();
  }

  // Follow and show the bottom now.
  followTail() {
    this.setFollow(true);
    this.render();
  }

  setFollowLabel(text) {
    this.followButton.textContent = text;
  }

  // Size the pane to reach the bottom of the window, less `below` pixels.
  fitToWindow(below) {
    const top = this.pane.getBoundingClientRect().top + window.scrollY;
    const height = Math.max(280, window.innerHeight - top - below - 12);
    this.pane.style.height = `${Math.floor(height)}px`;
  }

  domRowCount() {
    return this.rowBox.querySelectorAll(".lv-row:not([hidden])").length;
  }

  // The seq in the middle of the view (0 when empty): kept in view across a refilter.
  anchorSeq() {
    return this.source.count() ? this.source.seqAt(this.first + Math.floor(this.visibleCount / 2)) : 0;
  }

  // The seq of the first row in view (0 when empty).
  topSeq() {
    return this.source.count() ? this.source.seqAt(this.first) : 0;
  }

  // Whether the row of `seq` is fully in view.
  shows(seq) {
    const index = this.source.indexOfSeq(seq);
    if (this.source.seqAt(index) !== seq) return false;
    return index >= this.first && index < this.first + this.visibleCount - OVERSCAN;
  }

  jumpTo(seq) {
    this.setFollow(false);
    this._layout();
    const index = this.source.indexOfSeq(seq);
    const half = Math.floor(this.pane.clientHeight / this.rowHeight / 2);
    this._scrollToRow(Math.max(0, index - half));
    this.render();
  }

  // `prepended` rows were inserted above: the same line stays at the top.
  keepTopAfterPrepend(prepended) {
    if (prepended > 0 && !this.following) {
      const top = this._topRow(this.source.count() - prepended);
      this._layout();
      this._scrollToRow(top + prepended);
    }
    this.scheduleRender();
  }

  scheduleRender() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  // The rows' layout changed (wrapping on or off): place them again.
  repaintAll() {
    this.scheduleRender();
  }

  render() {
    this.frame = 0;
    const pane = this.pane;
    const count = this._layout();
    if (this.following) this._setScrollTop(pane.scrollHeight);
    const top = this._topRow(count);
    const first = Math.max(0, Math.floor(top));
    const visible = Math.max(0, Math.min(Math.ceil(pane.clientHeight / this.rowHeight) + OVERSCAN, count - first));
    this.rowBox.style.transform = `translateY(${pane.scrollTop - (top - first) * this.rowHeight}px)`;
    while (this.rows.length < visible) {
      const row = new LogRow();
      this.rowBox.insertBefore(row.element, this.tail ? this.tail.element : null);
      this.rows.push(row);
    }
    for (let k = 0; k < this.rows.length; k++) {
      if (k < visible) this.paint(this.rows[k], first + k);
      else this.rows[k].hide();
    }
    if (this.tail) this.tail.element.hidden = !(this._tailWanted() && first + visible >= count);
    this._fitWrapped(visible, first + visible >= count);
    this.first = first;
    this.visibleCount = visible;
    this.followButton.hidden = this.following || count * this.rowHeight <= pane.clientHeight;
    this.emptyBox.hidden = count > 0;
    if (count === 0) this.emptyBox.textContent = this.emptyText();
    this._scheduleEnsure(first, first + visible);
    this.onRender();
  }

  // Wrapped rows: scrolling still moves one row per row height, whatever a row's height.
  // The spacer grows by what the rows in view add beyond one line each (so they can be
  // scrolled to), and at the very end the last row sits at the bottom of the pane.
  _fitWrapped(visible, reachesEnd) {
    if (!this.wrapped()) {
      if (this.extra) {
        this.extra = 0;
        this._layout();
      }
      return;
    }
    const pane = this.pane;
    const height = visible ? this.rowBox.getBoundingClientRect().height : 0;
    const extra = Math.max(0, Math.ceil(height - visible * this.rowHeight));
    if (extra !== this.extra) {
      this.extra = extra;
      this._layout();
    }
    const atEnd = this.following || pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 1;
    if (reachesEnd && atEnd && height > pane.clientHeight) {
      this.rowBox.style.transform = `translateY(${pane.scrollTop + pane.clientHeight - height}px)`;
    }
  }

  _bind() {
    const pane = this.pane;
    pane.addEventListener(
      "scroll",
      () => {
        if (pane.scrollTop !== this.programmaticTop) {
          this.programmaticTop = -1;
          this.setFollow(pane.scrollTop + pane.clientHeight >= pane.scrollHeight - this.rowHeight / 2);
        }
        this.scheduleRender();
      },
      { passive: true },
    );
    pane.addEventListener(
      "wheel",
      (event) => {
        if (event.deltaY < 0 && pane.scrollHeight > pane.clientHeight) this.setFollow(false);
      },
      { passive: true },
    );
    pane.addEventListener("keydown", (event) => {
      if (["PageUp", "ArrowUp", "Home"].includes(event.key)) this.setFollow(false);
      if (event.key === "End") this.setFollow(true);
    });
    new ResizeObserver(() => this.scheduleRender()).observe(pane);
    this.followButton.addEventListener("click", () => this.followTail());
    this.rowBox.addEventListener("click", (event) => {
      if (event.target.closest("a") || String(window.getSelection() || "")) return;
      const row = event.target.closest(".lv-row");
      if (row && !row.classList.contains("lv-ph")) this.onPick(Number(row.dataset.seq));
    });
  }

  _measureRow() {
    const probe = new LogRow();
    probe.message.textContent = "x";
    this.rowBox.append(probe.element);
    const height = probe.element.getBoundingClientRect().height;
    probe.element.remove();
    return height > 0 ? height : 18;
  }

  _layout() {
    const count = this.source.count();
    const tail = this._tailWanted() && !this.wrapped() ? this.rowHeight : 0; // wrapped: in `extra`
    const height = Math.min(count * this.rowHeight + this.extra + tail, MAX_SCROLL_PX);
    if (height !== this.spacerHeight) {
      this.spacerHeight = height;
      this.spacer.style.height = `${height}px`;
    }
    return count;
  }

  _scaled(count) {
    return count * this.rowHeight > MAX_SCROLL_PX;
  }

  // The (fractional) row index at the top of the pane.
  _topRow(count) {
    const pane = this.pane;
    if (!this._scaled(count)) return pane.scrollTop / this.rowHeight;
    const maxTop = this.spacerHeight - pane.clientHeight;
    const maxRow = count - pane.clientHeight / this.rowHeight;
    return maxTop > 0 ? (pane.scrollTop / maxTop) * maxRow : 0;
  }

  _scrollToRow(index) {
    const pane = this.pane;
    const count = this.source.count();
    let top = index * this.rowHeight;
    if (this._scaled(count)) {
      const maxRow = count - pane.clientHeight / this.rowHeight;
      top = maxRow > 0 ? (index / maxRow) * (this.spacerHeight - pane.clientHeight) : 0;
    }
    this._setScrollTop(top);
  }

  _setScrollTop(top) {
    this.pane.scrollTop = top;
    this.programmaticTop = this.pane.scrollTop;
  }

  _scheduleEnsure(first, end) {
    this.ensureRange = [first, end];
    if (this.ensureTimer) return;
    this.ensureTimer = setTimeout(() => {
      this.ensureTimer = 0;
      this.source.ensure(...this.ensureRange);
    }, ENSURE_DELAY_MS);
  }
}
