// One clock for every page: each <time data-clock> (rendered by the `clock` template tag, or
// built here for rows drawn live) is shown in the viewer's own zone, with its UTC offset;
// the tooltip gives UTC. The zone goes into a cookie so server-rendered times (the admin,
// pages read without JavaScript) use the same zone.

const TZ_COOKIE = "livchat_tz";
const pad = (number) => String(number).padStart(2, "0");

export function viewerZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

// "UTC", "UTC+01:00", "UTC−05:00" for the local offset at `date`.
export function offsetLabel(date) {
  const minutes = -date.getTimezoneOffset();
  if (minutes === 0) return "UTC";
  const sign = minutes > 0 ? "+" : "−";
  const abs = Math.abs(minutes);
  return `UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

function parse(iso) {
  if (!iso) return null;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function localDay(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

export function localTime(date) {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export function utcText(date) {
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

// Django's timesince, in its words: "0 minutes", "3 minutes", "1 hour, 5 minutes".
const UNITS = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

export function since(date, now = new Date()) {
  let seconds = Math.max(0, Math.floor((now - date) / 1000));
  const word = (count, name) => `${count}\u00a0${name}${count === 1 ? "" : "s"}`;
  const first = UNITS.findIndex(([, size]) => seconds >= size);
  if (first === -1) return word(0, "minute");
  const [name, size] = UNITS[first];
  const count = Math.floor(seconds / size);
  seconds -= count * size;
  const next = UNITS[first + 1];
  const nextCount = next ? Math.floor(seconds / next[1]) : 0;
  return nextCount ? `${word(count, name)}, ${word(nextCount, next[0])}` : word(count, name);
}

// "3 minutes ago"; under a minute "just now", never "0 minutes ago" (clock.py's ago_text).
export function agoText(date, now = new Date()) {
  const words = since(date, now);
  return words === since(now, now) ? "just now" : `${words} ago`;
}

// The text a <time data-clock=mode> shows for `iso`.
export function clockText(iso, mode = "datetime") {
  const date = parse(iso);
  if (!date) return "—";
  if (mode === "ago") return agoText(date);
  if (mode === "time") return `${localTime(date)} ${offsetLabel(date)}`;
  return `${localDay(date)} ${localTime(date)} ${offsetLabel(date)}`;
}

function render(el) {
  const date = parse(el.getAttribute("datetime"));
  if (!date) return;
  const mode = el.dataset.clock || "datetime";
  el.textContent = clockText(el.getAttribute("datetime"), mode);
  // The tooltip names the moment: local time and UTC, once when they are the same.
  const local = `${localDay(date)} ${localTime(date)} ${offsetLabel(date)}`;
  const utc = utcText(date);
  el.title = mode === "ago" && local !== utc ? `${local} (${utc})` : utc;
}

// Set (or clear, with a null iso) the time an element shows; used for fields that change live.
export function setClock(el, iso) {
  if (!el) return;
  if (!iso) {
    el.removeAttribute("datetime");
    el.removeAttribute("title");
    el.textContent = "—";
    return;
  }
  el.setAttribute("datetime", iso);
  render(el);
}

export function localizeClocks(root = document) {
  for (const el of root.querySelectorAll("time[data-clock][datetime]")) render(el);
}

function rememberZone() {
  const zone = viewerZone();
  if (!/^[A-Za-z0-9_+\-/]{1,64}$/.test(zone)) return; // IANA names only; the server reads it raw
  const current = document.cookie.match(/(?:^|;\s*)livchat_tz=([^;]+)/);
  if (current && current[1] === zone) return;
  document.cookie = `${TZ_COOKIE}=${zone}; path=/; max-age=31536000; samesite=lax`;
}

rememberZone();
localizeClocks();
const zoneNote = document.getElementById("clock-zone");
if (zoneNote) {
  const zone = viewerZone();
  const offset = offsetLabel(new Date());
  zoneNote.textContent = zone === offset ? `times in ${zone}` : `times in ${zone} (${offset})`;
}
// "3 minutes ago" stays true while a page is open.
setInterval(() => {
  for (const el of document.querySelectorAll('time[data-clock="ago"][datetime]')) render(el);
}, 30000);
