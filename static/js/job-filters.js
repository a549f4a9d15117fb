// The job list's filters apply as they change: a select or a date at once, the search box a
// moment after typing stops. Applying is a plain GET of the list with the filters (the page the
// Filter button would load), so the live rows, the pager and the URL stay the server's; the
// search box gets its focus and caret back after the reload. Without this module the Filter
// button does the same.

const FOCUS_KEY = "livchat:job-filters-focus";
const TYPING_MS = 600;

const form = document.getElementById("job-filters");
if (form) {
  const submit = form.querySelector("#apply-filters");
  if (submit) submit.hidden = true; // nothing to press any more

  function apply(focused) {
    const query = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (String(value).trim()) query.append(key, value);
    if (focused) sessionStorage.setItem(FOCUS_KEY, focused);
    const url = `${location.pathname}${query.size ? `?${query}` : ""}`;
    if (url !== `${location.pathname}${location.search}`) location.assign(url);
  }

  let typing = null;
  form.addEventListener("input", (event) => {
    if (event.target.type !== "search") return;
    clearTimeout(typing);
    typing = setTimeout(() => apply(event.target.name), TYPING_MS);
  });
  form.addEventListener("change", (event) => {
    if (event.target.type === "search") return; // the timer above (or Enter) applies it
    apply(null);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(typing);
    apply(document.activeElement && document.activeElement.name);
  });

  const focused = sessionStorage.getItem(FOCUS_KEY);
  sessionStorage.removeItem(FOCUS_KEY);
  const field = focused && form.elements.namedItem(focused);
  if (field && field.focus) {
    field.focus();
    if (field.setSelectionRange && field.type !== "date") field.setSelectionRange(field.value.length, field.value.length);
  }
}
