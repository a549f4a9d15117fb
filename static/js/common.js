// Small helpers shared by the page modules.

export const FINAL_STATUSES = new Set(["succeeded", "failed", "cancelled", "timed_out"]);
export const BACKOFF_MS = [500, 1000, 2000, 4000, 5000];

export function statusLabel(status) {
  return String(status || "").replace(/_/g, " ");
}

// Badges are styled by class `st-<status>`; text is always set with textContent.
export function setBadge(el, status) {
  if (!el) return;
  el.className = el.className.replace(/\bst-\S+/g, "").trim() + ` st-${status}`;
  el.textContent = statusLabel(status);
}

export function wsUrl(path) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}

export function csrfToken(root = document) {
  const input = root.querySelector("input[name=csrfmiddlewaretoken]") || document.querySelector("input[name=csrfmiddlewaretoken]");
  if (input) return input.value;
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

export async function getJson(url) {
  const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  let body = {};
  try {
    body = await r.json();
  } catch {
    body = {};
  }
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

export function formatDateTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// Connection state pill: data-state drives the colour, text says it in words.
export function setConn(el, state, text) {
  if (!el) return;
  el.dataset.state = state;
  el.textContent = text || state;
}
