// One row of the log pane: line number, time, host, message. The virtual list reuses a
// few rows for whatever lines are in view; a row skips repainting when nothing changed.
import {
  applyAnsiStyles,
  fullTime,
  highlight,
  isTruncated,
  openLinksElsewhere,
  rowHtml,
  shortTime,
} from "./lv-render.js";

function part(tag, className) {
  const el = document.createElement(tag);
  el.className = className;
  return el;
}

export class LogRow {
  constructor() {
    this.element = part("div", "lv-row");
    this.number = part("a", "lv-n");
    this.time = part("span", "lv-t");
    this.host = part("span", "lv-h");
    this.message = part("span", "lv-m");
    this.element.append(this.number, this.time, this.host, this.message);
    this.paintedKey = ""; // what the row shows now: repaint only when it changes
  }

  isHidden() {
    return this.element.hidden;
  }

  hide() {
    if (this.element.hidden) return;
    this.element.hidden = true;
    this.paintedKey = "";
  }

  // A row whose line is not here (yet): state "loading" or "missing".
  showPlaceholder(seq, state) {
    this.element.hidden = false;
    const key = `p${seq}${state}`;
    if (this.paintedKey === key) return;
    this.paintedKey = key;
    this.element.className = "lv-row lv-ph";
    this._showSeq(seq);
    this.time.textContent = "";
    this.host.textContent = "";
    this.message.textContent = state === "missing" ? "(line not stored: expired or removed)" : "…";
  }

  // marks: {hit, current, selected} flags, the search `regex` to highlight and its `version`.
  showLine(line, marks) {
    this.element.hidden = false;
    const seq = line.seq;
    const key = `${seq}|${marks.version}|${marks.hit}|${marks.current}|${marks.selected}`;
    if (this.paintedKey === key) return;
    this.paintedKey = key;
    let className = `lv-row lv-l-${line.level} lv-s-${line.stream}`;
    if (marks.hit) className += " lv-hit";
    if (marks.current) className += " lv-cur";
    if (marks.selected) className += " lv-sel";
    if (isTruncated(line)) className += " lv-trunc";
    this.element.className = className;
    this._showSeq(seq);
    this.time.textContent = shortTime(line);
    this.time.title = fullTime(line);
    this.host.textContent = line.host || "";
    const html = rowHtml(line);
    this.message.innerHTML = html; // ansi_up escapes every character of the output
    if (html.includes("data-ansi-style")) applyAnsiStyles(this.message);
    if (html.includes("<a ")) openLinksElsewhere(this.message);
    if (marks.regex) highlight(this.message, marks.regex);
  }

  _showSeq(seq) {
    this.element.dataset.seq = seq;
    this.number.textContent = seq;
    this.number.href = `#L${seq}`;
  }
}
