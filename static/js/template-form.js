// The "New template" / "Edit template" page: tag chips, the prompt editor's add/remove buttons,
// and only the command or the playbook part shown, as the kind says.
//
// Without this module the page still works: tags are a comma-separated field, the editor has a
// fixed number of blank rows (a row with no name is dropped), and both parts are shown with a
// note saying which kind uses them. Rows are numbered p0_…, p1_… and `prompt_rows` says how many
// were sent; removing a row renumbers the rest so the numbers stay 0…n-1.

import { setupTagChips } from "./chips.js";

const form = document.getElementById("template-form");
if (form) {
  const tagChips = setupTagChips(form.querySelector("input[name=tags]"));
  const editor = setupPromptEditor(form);
  setupKindSwitch(form);
  window.livchatTemplateForm = { tags: () => tagChips.values(), promptRows: () => editor.count() };
}

function setupPromptEditor(form) {
  const body = document.querySelector("#prompt-editor tbody");
  const count = document.getElementById("prompt-rows-count");
  const add = document.getElementById("add-prompt");
  const rows = () => [...body.querySelectorAll("tr.prompt-row")];

  function renumber() {
    rows().forEach((row, i) => {
      row.dataset.row = String(i);
      for (const field of row.querySelectorAll("[name]")) field.name = field.name.replace(/^p\d+_/, `p${i}_`);
    });
    count.value = String(rows().length);
  }

  function wire(row) {
    const remove = row.querySelector(".prompt-remove");
    remove.hidden = false;
    remove.addEventListener("click", () => {
      const error = row.nextElementSibling;
      if (error && error.classList.contains("prompt-row-error")) error.remove();
      row.remove();
      renumber();
      form.dispatchEvent(new CustomEvent("livchat:prompts-changed", { detail: { rows: rows().length } }));
    });
  }

  const pattern = rows()[0].cloneNode(true); // taken before any row can be removed
  function blankRow() {
    const row = pattern.cloneNode(true);
    row.classList.remove("row-error");
    for (const field of row.querySelectorAll("input, textarea, select")) {
      if (field.type === "checkbox") field.checked = false;
      else if (field.tagName === "SELECT") field.value = "text";
      else field.value = "";
    }
    return row;
  }

  // Rows with nothing typed are noise once rows can be added: keep one blank row.
  const blanks = rows().filter((row) => ![...row.querySelectorAll("input[type=text], textarea")].some((f) => f.value));
  for (const row of blanks.slice(1)) row.remove();
  rows().forEach(wire);
  renumber();
  add.hidden = false;
  add.addEventListener("click", () => {
    const row = blankRow();
    body.append(row);
    wire(row);
    renumber();
    row.querySelector("input[name$=_name]").focus();
    form.dispatchEvent(new CustomEvent("livchat:prompts-changed", { detail: { rows: rows().length } }));
  });
  // The choices box matters only for a choice prompt.
  body.addEventListener("change", (event) => {
    if (event.target.matches("select[name$=_type]")) showChoices(event.target.closest("tr"));
  });
  rows().forEach(showChoices);
  return { count: () => rows().length };
}

function showChoices(row) {
  const type = row.querySelector("select[name$=_type]").value;
  const choices = row.querySelector("textarea[name$=_choices]");
  choices.hidden = type !== "choice" && !choices.value;
}

function setupKindSwitch(form) {
  const radios = [...form.querySelectorAll("input[name=kind]")];
  const parts = [...form.querySelectorAll("[data-kind]")];
  for (const note of form.querySelectorAll(".kind-note")) note.hidden = true;
  function show() {
    const kind = (radios.find((r) => r.checked) || {}).value || "command";
    for (const part of parts) part.hidden = part.dataset.kind !== kind;
  }
  for (const radio of radios) radio.addEventListener("change", show);
  show();
}
