// The diff page: "Next change" (also the n key) and the unified / side-by-side switch.
const hunks = [...document.querySelectorAll(".diff-hunk")];
const next = document.getElementById("diff-next");
const side = document.getElementById("diff-side");
const box = document.getElementById("diff-hunks");

function goNext() {
  const top = window.scrollY + 80;
  const target = hunks.find((h) => h.getBoundingClientRect().top + window.scrollY > top) || hunks[0];
  if (!target) return;
  target.scrollIntoView({ block: "start" });
  target.focus({ preventScroll: true });
}

next?.addEventListener("click", goNext);
document.addEventListener("keydown", (event) => {
  if (event.key === "n" && !event.ctrlKey && !event.metaKey && !(event.target instanceof HTMLInputElement)) goNext();
});
side?.addEventListener("change", () => {
  box.classList.toggle("diff-split", side.checked);
  box.classList.toggle("diff-unified", !side.checked);
});
