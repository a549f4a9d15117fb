// Turning a line into a row: ANSI colours via the vendored ansi_up (which HTML-escapes
// all text), search highlights, timestamps. Nothing here puts unescaped output in the DOM.
import { AnsiUp } from "../vendor/ansi_up/ansi_up.js";
import { localDay, localTime, offsetLabel, utcText } from "./clock.js";

const MAX_ROW_CHARS = 2000; // the row shows this much; the detail panel shows the whole line
const HTML_CACHE_MAX = 4000;

const ansi = new AnsiUp();
ansi.use_classes = true; // palette in app.css, tuned for the dark pane
ansi.escape_html = true;

const htmlCache = new Map();
const ANSI_STYLE_RE = /<span style="/g;

// Each line is rendered on its own (rows render out of order), so colour state must not
// leak from one line into the next: every line starts from this state.
const ANSI_FRESH_STATE = { fg: null, bg: null, bold: false, faint: false, italic: false, underline: false, _buffer: "" };

// The escape sequences a person does not see: the server's rule (jobs/log/lines.py ANSI),
// character for character, so the browser matches the same text the logs API's `q` does.
const ANSI_SOURCE =
  "\\x1b\\[[0-?]*[ -/]*[@-~]|\\x1b\\][^\\x07\\x1b\\n]*(?:\\x07|\\x1b\\\\)?|\\x1b[()*+][ -~]|\\x1b[0-?@-Z\\\\-_`-~]";
const ANSI_RE = new RegExp(ANSI_SOURCE, "g");

// The text of a line as a person sees it (and as a search matches it): escapes out.
export function plainText(message) {
  return message.includes("\x1b") ? message.replace(ANSI_RE, "") : message;
}

// What ansi_up is given: only the colour codes (SGR) and whole OSC 8 links it renders, in the
// shape it parses them. Everything else the server strips goes first, and so do stray ESCs:
// left to ansi_up, some would show as text ("]0;title", "(B") or eat the next characters,
// and the row's text would no longer be the text a search matched (highlights go wrong).
const LINK_SOURCE =
  "\\x1b\\]8;[\\x20-\\x3a\\x3c-\\x7e]*;[\\x21-\\x7e]{0,512}(?:\\x1b\\\\|\\x07)[\\x20-\\x7e]+\\x1b\\]8;;(?:\\x1b\\\\|\\x07)";
const RENDER_RE = new RegExp(`(${LINK_SOURCE})|${ANSI_SOURCE}|\\x1b`, "g");
const SGR_RE = /^\x1b\[[0-9;]*m$/;

function renderable(text) {
  if (!text.includes("\x1b")) return text;
  return text.replace(RENDER_RE, (sequence, link) => (link || SGR_RE.test(sequence) ? sequence : ""));
}

export function ansiToHtml(text) {
  text = renderable(text);
  Object.assign(ansi, ANSI_FRESH_STATE);
  // Bold, 256-colour and truecolor spans come with a style attribute, which the page's
  // Content-Security-Policy (style-src 'self') blocks in markup; applyAnsiStyles() sets the
  // same declarations through the CSSOM, which the CSP allows. Output text is escaped, so
  // only ansi_up's own spans can start with `<span style="`.
  return ansi.ansi_to_html(text).replace(ANSI_STYLE_RE, '<span data-ansi-style="');
}

// After `el.innerHTML = ansiToHtml(...)`: turn the spans' data-ansi-style into styles.
export function applyAnsiStyles(el) {
  for (const span of el.querySelectorAll("span[data-ansi-style]")) {
    span.style.cssText = span.dataset.ansiStyle;
    span.removeAttribute("data-ansi-style");
  }
}

const HTML_ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (char) => HTML_ESCAPES[char]);
}

// Playbook lines carry their task: a compact tag in front of the message, so a line read
// out of context (filtered, searched, jumped to) still says which task wrote it. The
// "TASK [name] ***" banner names it already. (The host has its own column, .lv-h.)
function taskTag(line) {
  if (!line.task || line.event === "playbook_on_task_start") return "";
  const task = escapeHtml(line.task);
  return `<span class="lv-task" title="task: ${task}">${task}</span>`;
}

export function rowHtml(line) {
  // A seq always names the same line of this job, so it is the cache key.
  let html = htmlCache.get(line.seq);
  if (html !== undefined) return html;
  const text = line.message.length > MAX_ROW_CHARS ? line.message.slice(0, MAX_ROW_CHARS) : line.message;
  html = taskTag(line) + ansiToHtml(text);
  if (htmlCache.size > HTML_CACHE_MAX) htmlCache.clear();
  htmlCache.set(line.seq, html);
  return html;
}

export function isTruncated(line) {
  return line.message.length > MAX_ROW_CHARS;
}

// Wrap every match of `re` in <mark>, across the text nodes ansi_up produced: their text
// joined is the line's visible text (renderable() above), so a match that starts inside a
// colour span and ends outside it ("red normal") is marked in both. The task tag is not
// part of the message the server searched, so it gets no highlight.
const SKIP_TAGS = {
  acceptNode: (node) =>
    node.parentNode.classList?.contains("lv-task") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
};
export function highlight(el, re) {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT, SKIP_TAGS);
  const nodes = [];
  const starts = [];
  let text = "";
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    nodes.push(node);
    starts.push(text.length);
    text += node.data;
  }
  if (!text) return 0;
  const ranges = [];
  re.lastIndex = 0;
  for (let match = re.exec(text); match && ranges.length < 200; match = re.exec(text)) {
    if (match[0].length === 0) {
      re.lastIndex += 1;
      continue;
    }
    ranges.push([match.index, match.index + match[0].length]);
  }
  // Back to front: splitting a text node keeps earlier offsets valid.
  for (let r = ranges.length - 1; r >= 0; r--) {
    const [start, end] = ranges[r];
    for (let k = nodes.length - 1; k >= 0; k--) {
      const nodeStart = starts[k];
      const nodeEnd = nodeStart + nodes[k].data.length;
      if (nodeEnd <= start || nodeStart >= end) continue;
      const range = document.createRange();
      range.setStart(nodes[k], Math.max(0, start - nodeStart));
      range.setEnd(nodes[k], Math.min(nodes[k].data.length, end - nodeStart));
      range.surroundContents(document.createElement("mark"));
    }
  }
  return ranges.length;
}

const pad = (number, width = 2) => String(number).padStart(width, "0");
const shortTimes = new WeakMap(); // line → "HH:MM:SS.mmm", computed once per line

// A row's time in full, for its tooltip: the local date and time with the zone's offset
// (the column shows the same clock, shortened), then UTC.
export function fullTime(line) {
  const date = new Date(line.ts);
  if (Number.isNaN(date.getTime())) return "";
  const millis = pad(date.getMilliseconds(), 3);
  return `${localDay(date)} ${localTime(date)}.${millis} ${offsetLabel(date)} (${utcText(date)})`;
}

export function shortTime(line) {
  let text = shortTimes.get(line);
  if (text === undefined) {
    const date = new Date(line.ts);
    text = Number.isNaN(date.getTime())
      ? ""
      : `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
    shortTimes.set(line, text);
  }
  return text;
}

// OSC 8 hyperlinks (http/https only, ansi_up's allowlist) open in a new tab.
export function openLinksElsewhere(el) {
  for (const link of el.querySelectorAll("a")) {
    link.target = "_blank";
    link.rel = "noopener noreferrer";
  }
}
