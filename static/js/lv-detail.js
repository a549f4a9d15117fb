// The detail panel under the pane: one selected line in full (the row shows at most
// 2000 characters), its metadata, Copy (plain text, no ANSI) and Close.
import { ansiToHtml, applyAnsiStyles, fullTime, openLinksElsewhere, plainText } from "./lv-render.js";

export class DetailPanel {
  // elements: the viewer's [data-lv] map (detail, detail-meta, detail-text, detail-copy,
  // detail-close). onResize(): the panel appeared or went; onClose(): the user closed it.
  constructor({ elements, onResize, onClose }) {
    this.panel = elements.detail;
    this.meta = elements["detail-meta"];
    this.text = elements["detail-text"];
    this.copyButton = elements["detail-copy"];
    this.closeButton = elements["detail-close"];
    this.onResize = onResize;
    this.onClose = onClose;
    this.line = null;
  }

  bind() {
    this.closeButton.addEventListener("click", () => this.close());
    this.copyButton.addEventListener("click", () => this.copy());
  }

  // The height it takes below the pane (0 when closed).
  height() {
    return this.panel.hidden ? 0 : this.panel.getBoundingClientRect().height;
  }

  show(line) {
    const tags = [line.host && `host ${line.host}`, line.task && `task ${line.task}`, line.event].filter(Boolean);
    this.meta.textContent = [`#${line.seq}`, fullTime(line), line.level, line.stream, ...tags].join(" · ");
    this.text.innerHTML = ansiToHtml(line.message); // ansi_up escapes every character
    applyAnsiStyles(this.text);
    openLinksElsewhere(this.text);
    this.line = line;
    this.panel.hidden = false;
    this.onResize();
  }

  close() {
    this.panel.hidden = true;
    this.onResize();
    this.onClose();
  }

  copy() {
    if (this.line && navigator.clipboard) navigator.clipboard.writeText(plainText(this.line.message));
  }
}
