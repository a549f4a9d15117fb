// Wiring of the viewer's controls: scrolling and follow, row selection, toolbar, keys.
import { refilter, search, step } from "./lv-filters.js";
import { plainText } from "./lv-render.js";
export function bindControls(v) {
  const { pane } = v.el;
  pane.addEventListener(
    "scroll",
    () => {
      if (pane.scrollTop !== v.programmaticTop) {
        v.programmaticTop = -1;
        v.setFollow(pane.scrollTop + pane.clientHeight >= pane.scrollHeight - v.rowH / 2);
      }
      v.scheduleRender();
    },
    { passive: true },
  );
  pane.addEventListener(
    "wheel",
    (e) => {
      if (e.deltaY < 0 && pane.scrollHeight > pane.clientHeight) v.setFollow(false);
    },
    { passive: true },
  );
  pane.addEventListener("keydown", (e) => {
    if (["PageUp", "ArrowUp", "Home"].includes(e.key)) v.setFollow(false);
    if (e.key === "End") v.setFollow(true);
  });
  new ResizeObserver(() => v.scheduleRender()).observe(pane);
  v.el.follow.addEventListener("click", () => {
    v.setFollow(true);
    v.render();
  });
  v.el.rows.addEventListener("click", (e) => {
    if (e.target.closest("a") || String(window.getSelection() || "")) return;
    const row = e.target.closest(".lv-row");
    if (row && !row.classList.contains("lv-ph")) v.select(Number(row.dataset.seq));
  });
  v.el["detail-close"].addEventListener("click", () => {
    v.el.detail.hidden = true;
    if ("fit" in v.root.dataset) v.fitHeight();
    v.selectedSeq = 0;
    v.scheduleRender();
  });
  v.el["detail-copy"].addEventListener("click", () => {
    if (v.detailLine && navigator.clipboard) navigator.clipboard.writeText(plainText(v.detailLine.message));
  });
  window.addEventListener("hashchange", () => {
    const seq = v.hashSeq();
    if (seq) v.select(seq, { jump: true });
  });
  v.el.cancel.addEventListener("click", () => v.cancel());
  bindToolbar(v);
}

function bindToolbar(v) {
  const el = v.el;
  el.level.addEventListener("change", () => {
    v.level = el.level.value;
    refilter(v);
  });
  el.streams.addEventListener("click", (e) => {
    const btn = e.target.closest("button[data-stream]");
    if (!btn) return;
    for (const b of el.streams.querySelectorAll("button")) b.classList.toggle("on", b === btn);
    v.stream = btn.dataset.stream;
    refilter(v);
  });
  el["search-form"].addEventListener("submit", (e) => {
    e.preventDefault();
    const q = el.q.value.trim();
    if (q !== v.q) search(v, q);
    else step(v, 1);
  });
  el.q.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && e.shiftKey) {
      e.preventDefault();
      if (el.q.value.trim() === v.q) step(v, -1);
      else search(v, el.q.value.trim());
    }
  });
  el.q.addEventListener("search", () => !el.q.value && v.q && search(v, ""));
  el.prev.addEventListener("click", () => step(v, -1));
  el.next.addEventListener("click", () => step(v, 1));
  el.only.addEventListener("change", () => {
    v.only = el.only.checked;
    refilter(v);
  });
  el["goto-form"].addEventListener("submit", (e) => {
    e.preventDefault();
    const seq = parseInt(el.goto.value, 10);
    if (!(seq >= 1)) return;
    if (location.hash === `#L${seq}`) v.select(seq, { jump: true });
    else location.hash = `#L${seq}`;
  });
  el["show-ts"].addEventListener("change", () => v.root.classList.toggle("lv-no-ts", !el["show-ts"].checked));
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && !e.target.closest("input, textarea, select")) {
      e.preventDefault();
      el.q.focus();
    }
  });
}
