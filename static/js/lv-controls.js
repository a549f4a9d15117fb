// Wiring of the toolbar and the page-wide keys and links: level, stream, problems, search,
// "only matches", go to line, timestamps, wrap, "/" to search, #L<seq> links. Each control
// calls a method of the filters (LogFilters) or of the viewer; the pane, the detail panel
// and the status strip wire their own controls.

// The search runs as you type, once typing pauses this long (not on every key: each search
// is a request to the logs API); Enter runs it at once.
export const SEARCH_DEBOUNCE_MS = 250;

// The line a #L<seq> link names, 0 for none.
export function lineFromHash() {
  const match = location.hash.match(/^#L(\d+)$/);
  return match ? Number(match[1]) : 0;
}

// elements: the viewer's [data-lv] map; filters: LogFilters; viewer: LogViewer.
export function bindControls({ elements, filters, viewer }) {
  const { level, streams, problems, q: queryInput } = elements;
  const pressStream = (value) => {
    for (const button of streams.querySelectorAll("button[data-stream]")) {
      const on = button.dataset.stream === value;
      button.classList.toggle("on", on);
      button.setAttribute("aria-pressed", String(on));
    }
  };
  const showProblems = () => {
    if (problems) problems.setAttribute("aria-pressed", String(filters.showsProblems()));
  };
  level.addEventListener("change", () => {
    filters.setLevel(level.value);
    showProblems();
  });
  streams.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-stream]");
    if (!button) return;
    pressStream(button.dataset.stream);
    filters.setStream(button.dataset.stream);
    showProblems();
  });
  if (problems) {
    problems.addEventListener("click", () => {
      filters.setProblems(!filters.showsProblems());
      if (filters.showsProblems()) {
        level.value = "";
        pressStream("");
      }
      showProblems();
    });
  }
  let typing = 0;
  const searchNow = (delta) => {
    clearTimeout(typing);
    filters.searchOrStep(queryInput.value.trim(), delta);
  };
  elements["search-form"].addEventListener("submit", (event) => {
    event.preventDefault();
    searchNow(1);
  });
  queryInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.shiftKey) {
      event.preventDefault();
      searchNow(-1);
    }
  });
  queryInput.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => filters.searchAsTyped(queryInput.value.trim()), SEARCH_DEBOUNCE_MS);
  });
  queryInput.addEventListener("search", () => {
    if (!queryInput.value) {
      clearTimeout(typing);
      filters.clearSearch();
    }
  });
  // ↑/↓ right after typing search what is typed (as Enter does), then move between matches.
  elements.prev.addEventListener("click", () => searchNow(-1));
  elements.next.addEventListener("click", () => searchNow(1));
  elements.only.addEventListener("change", () => {
    clearTimeout(typing);
    filters.setOnlyMatches(elements.only.checked, queryInput.value.trim());
  });
  elements["goto-form"].addEventListener("submit", (event) => {
    event.preventDefault();
    const seq = parseInt(elements.goto.value, 10);
    if (!(seq >= 1) || !viewer.goToLine(seq)) return;
    if (location.hash === `#L${seq}`) viewer.select(seq, { jump: true });
    else location.hash = `#L${seq}`;
  });
  const showTimes = elements["show-ts"];
  showTimes.addEventListener("change", () => viewer.showTimestamps(showTimes.checked));
  const details = elements.details;
  if (details) {
    details.addEventListener("click", () => {
      filters.setDetails(!filters.showsDetails());
      details.setAttribute("aria-pressed", String(filters.showsDetails()));
    });
  }
  const wrap = elements.wrap;
  if (wrap) wrap.addEventListener("click", () => viewer.setWrap(!viewer.isWrapped()));
  window.addEventListener("hashchange", () => {
    const seq = lineFromHash();
    if (seq && viewer.goToLine(seq)) viewer.select(seq, { jump: true });
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && !event.target.closest("input, textarea, select")) {
      event.preventDefault();
      queryInput.focus();
    }
  });
}
