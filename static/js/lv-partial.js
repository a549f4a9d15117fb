// The line a running job is redrawing with "\r" (a progress bar: apt, pip, wget), shown in
// place under the last stored line, styled as pending. It comes from `partial` messages
// (jobs/log/partial.py: stream, host, text, after = the seq of the line it follows), is never
// cached as a line, and goes away when the real line of its stream arrives or the job ends.
import { plainText } from "./lv-render.js"; // the row shows the text a person sees, escapes out

function part(tag, className) {
  const el = document.createElement(tag);
  el.className = className;
  return el;
}

function keyOf(message) {
  return `${message.host || ""}/${message.stream}`;
}

export class PartialLine {
  constructor() {
    this.element = part("div", "lv-row lv-partial");
    this.element.hidden = true;
    this.element.setAttribute("aria-live", "off");
    this.number = part("span", "lv-n");
    this.time = part("span", "lv-t");
    this.host = part("span", "lv-h");
    this.message = part("span", "lv-m");
    this.number.textContent = "…";
    this.time.textContent = "now";
    this.element.title = "being redrawn: the final state is stored when the line ends";
    this.element.append(this.number, this.time, this.host, this.message);
    this.parts = new Map(); // stream key -> its latest partial message
    this.stored = new Map(); // stream key -> the highest seq stored for it (a later partial only)
  }

  // A `partial` message; true when what is shown changed.
  offer(message) {
    const key = keyOf(message);
    const before = this._signature();
    if (!message.text || (this.stored.get(key) || 0) > message.after) this.parts.delete(key);
    else {
      this.parts.delete(key); // the most recent stream goes last: it is the one shown
      this.parts.set(key, message);
    }
    return this._paint(before);
  }

  // Stored lines arrived: a partial of their stream that they follow is replaced by them.
  linesArrived(lines) {
    const before = this._signature();
    for (const line of lines) {
      const key = keyOf(line);
      if (line.seq > (this.stored.get(key) || 0)) this.stored.set(key, line.seq);
      const shown = this.parts.get(key);
      if (shown && line.seq > shown.after) this.parts.delete(key);
    }
    return this._paint(before);
  }

  clear() {
    const before = this._signature();
    this.parts.clear();
    return this._paint(before);
  }

  isShown() {
    return this.parts.size > 0;
  }

  // The text shown now ("" when none): for tests and window.livchatViewer.stats().
  text() {
    const last = this._last();
    return last ? plainText(last.text) : "";
  }

  _last() {
    let last = null;
    for (const message of this.parts.values()) last = message;
    return last;
  }

  _paint(before) {
    const last = this._last();
    this.element.classList.toggle("lv-s-stderr", Boolean(last) && last.stream === "stderr");
    this.host.textContent = last ? last.host || "" : "";
    this.message.textContent = this.text();
    return this._signature() !== before;
  }

  _signature() {
    return `${this.parts.size}:${this.text()}`;
  }
}
