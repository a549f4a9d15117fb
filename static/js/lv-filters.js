// Level/stream filters (an exact list from the logs API, kept up to date live) and regex
// search (matches from the logs API, highlighted in the rows, next/previous navigation).
import { ListSource } from "./lv-sources.js";
import { toJsRegex } from "./lv-render.js";

const MAX_HITS = 10000; // the API's largest `tail`

export async function refilter(v, { rerunSearch = true } = {}) {
  const anchor = v.follow ? 0 : v.anchorSeq();
  const filtered = v.level || v.stream || (v.only && v.q);
  if (!filtered) {
    v.source = v.full;
    v.hideNotice();
  } else {
    const src = new ListSource(v, {
      level: v.level,
      stream: v.stream,
      q: v.only ? v.q : "",
      re: v.only ? v.hitRe : null,
    });
    v.source = src;
    v.notify("Loading matching lines…", "info", true);
    v.render();
    await src.load();
    if (v.source !== src) return;
    listNotice(v);
  }
  if (anchor) v.jumpTo(anchor);
  else {
    v.setFollow(true);
    v.render();
  }
  if (rerunSearch && v.q) search(v, v.q);
}

export function listNotice(v) {
  const src = v.source;
  if (src.kind !== "list") return;
  let text = `${src.count().toLocaleString()} matching line${src.count() === 1 ? "" : "s"}`;
  if (!src.exhausted) text += " · scroll up to load earlier ones";
  if (src.f.q && !src.f.re) text += " · new lines are not filtered live (expression unsupported by the browser)";
  v.notify(src.error ? `${text} · ${src.error}` : text, src.error ? "error" : "info", true);
}

export async function search(v, q) {
  const token = ++v.searchToken;
  v.q = q;
  v.hitRe = toJsRegex(q);
  v.hlVersion += 1;
  v.hits = [];
  v.hitSet = new Set();
  v.hitIndex = -1;
  v.currentHitSeq = 0;
  v.searchDone = false;
  v.el.hits.classList.remove("lv-bad");
  if (v.only) await refilter(v, { rerunSearch: false });
  if (!q) {
    v.el.hits.textContent = "";
    v.scheduleRender();
    return;
  }
  v.el.hits.textContent = "searching…";
  let res;
  try {
    res = await v.api.logs({ q, level: v.level, stream: v.stream, tail: MAX_HITS });
  } catch (err) {
    if (token !== v.searchToken) return;
    v.el.hits.textContent = err.message;
    v.el.hits.classList.add("lv-bad");
    v.scheduleRender();
    return;
  }
  if (token !== v.searchToken) return;
  v.hits = res.lines.map((l) => l.seq);
  v.hitSet = new Set(v.hits);
  v.hitsCapped = res.lines.length >= MAX_HITS;
  v.searchDone = true;
  if (!v.hits.length) {
    hitsLabel(v);
    v.scheduleRender();
    return;
  }
  const top = v.source.count() ? v.source.seqAt(v.first) : 0;
  const after = v.hits.findIndex((s) => s >= top);
  v.hitIndex = v.follow || after < 0 ? v.hits.length - 1 : after;
  gotoHit(v);
}

export function step(v, delta) {
  if (!v.hits.length) return;
  v.hitIndex = (v.hitIndex + delta + v.hits.length) % v.hits.length;
  gotoHit(v);
}

function gotoHit(v) {
  v.currentHitSeq = v.hits[v.hitIndex];
  hitsLabel(v);
  v.jumpTo(v.currentHitSeq);
}

export function hitsLabel(v) {
  const total = `${v.hits.length.toLocaleString()}${v.hitsCapped ? "+" : ""}`;
  v.el.hits.textContent = v.hits.length
    ? `${v.hitIndex >= 0 ? v.hitIndex + 1 : "–"} / ${total}${v.hitsCapped ? " (latest)" : ""}`
    : "no matches";
}
