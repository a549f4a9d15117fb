// Tag chips over a plain comma-separated text input (server form, template form), and the same
// chips over a <select multiple> (servers and tags pickers), which otherwise needs Ctrl-click.
//
// The real input or select stays what is submitted: it is hidden and the chips only edit it,
// so the page works the same without JavaScript (a comma-separated text field, a multi-select).

function splitTags(text) {
  return text.split(",").map((t) => t.trim()).filter(Boolean);
}

export function setupTagChips(input) {
  if (!input) return { values: () => [], flush: () => {} };
  const tags = [];
  const box = document.createElement("div");
  box.className = "chips";
  box.dataset.chips = "tags";
  const list = document.createElement("span");
  list.className = "chip-list";
  const entry = document.createElement("input");
  entry.type = "text";
  entry.className = "chip-entry";
  entry.id = `${input.id}-entry`;
  entry.placeholder = "type a tag, then Enter or comma";
  entry.autocomplete = "off";
  entry.setAttribute("aria-label", "New tag");
  box.append(list, entry);
  input.hidden = true;
  input.after(box);
  const label = document.querySelector(`label[for="${input.id}"]`);
  if (label) label.htmlFor = entry.id;

  function sync() {
    input.value = tags.join(", ");
    list.replaceChildren(...tags.map(chip));
  }

  function chip(tag) {
    const el = document.createElement("span");
    el.className = "chip";
    el.dataset.tag = tag;
    const text = document.createElement("span");
    text.textContent = tag;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "chip-remove";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove tag ${tag}`);
    remove.addEventListener("click", () => {
      tags.splice(tags.indexOf(tag), 1);
      sync();
      entry.focus();
    });
    el.append(text, remove);
    return el;
  }

  function add(text) {
    for (const tag of splitTags(text)) if (!tags.includes(tag)) tags.push(tag);
    sync();
  }

  function flush() {
    if (entry.value.trim()) add(entry.value);
    entry.value = "";
  }

  entry.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === ",") {
      event.preventDefault(); // Enter would submit the form
      flush();
    } else if (event.key === "Backspace" && !entry.value && tags.length) {
      tags.pop();
      sync();
    }
  });
  entry.addEventListener("input", () => {
    if (entry.value.includes(",")) flush(); // pasted "web, test"
  });
  entry.addEventListener("blur", flush);
  input.form.addEventListener("submit", flush);
  add(input.value);
  return { values: () => [...tags], flush };
}

// ---- chips over a <select multiple> ---------------------------------------------------------
// Typing offers the options not chosen yet (a <datalist>); Enter, a comma or picking one adds it,
// × or Backspace removes one. Only the select's own options can be chosen.
export function setupSelectChips(select) {
  if (!select || !select.multiple || select.dataset.chipsReady) return null;
  select.dataset.chipsReady = "yes";
  const options = [...select.options];
  const box = document.createElement("div");
  box.className = "chips";
  box.dataset.chips = select.name;
  const list = document.createElement("span");
  list.className = "chip-list";
  const entry = document.createElement("input");
  entry.type = "text";
  entry.className = "chip-entry";
  entry.id = `${select.id}-entry`;
  entry.autocomplete = "off";
  entry.placeholder = options.length ? `type ${select.dataset.chipsNoun || "a name"}, then Enter` : "none to choose";
  const choices = document.createElement("datalist");
  choices.id = `${select.id}-choices`;
  entry.setAttribute("list", choices.id);
  box.append(list, entry, choices);
  select.hidden = true;
  select.after(box);
  const label = document.querySelector(`label[for="${select.id}"]`);
  if (label) label.htmlFor = entry.id;
  entry.setAttribute("aria-label", label ? label.textContent.trim().split("\n")[0] : select.name);

  const find = (text) => {
    const wanted = text.trim().toLowerCase();
    return options.find((o) => o.value.toLowerCase() === wanted || o.text.trim().toLowerCase() === wanted);
  };

  function sync() {
    const chosen = options.filter((o) => o.selected);
    list.replaceChildren(...chosen.map(chip));
    choices.replaceChildren(
      ...options.filter((o) => !o.selected).map((o) => Object.assign(document.createElement("option"), { value: o.text.trim() })),
    );
  }

  function changed() {
    sync();
    select.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function chip(option) {
    const el = document.createElement("span");
    el.className = "chip";
    el.dataset.value = option.value;
    const text = document.createElement("span");
    text.textContent = option.text.trim();
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "chip-remove";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove ${option.text.trim()}`);
    remove.addEventListener("click", () => {
      option.selected = false;
      changed();
      entry.focus();
    });
    el.append(text, remove);
    return el;
  }

  // True when the text named an option (now chosen); unknown text stays in the box to fix.
  function add(text) {
    const option = find(text);
    if (!option) return false;
    option.selected = true;
    entry.value = "";
    entry.removeAttribute("aria-invalid");
    changed();
    return true;
  }

  entry.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === ",") {
      event.preventDefault(); // Enter would submit the form
      if (entry.value.trim() && !add(entry.value)) entry.setAttribute("aria-invalid", "true");
    } else if (event.key === "Backspace" && !entry.value) {
      const last = options.filter((o) => o.selected).pop();
      if (last) {
        last.selected = false;
        changed();
      }
    }
  });
  // Picking from the datalist fills the box with an exact option: take it at once. Typing does
  // not ("web" may be the start of "web-1").
  entry.addEventListener("input", (event) => {
    entry.removeAttribute("aria-invalid");
    const picked = !event.inputType || event.inputType === "insertReplacementText";
    if (picked && find(entry.value)) add(entry.value);
  });
  entry.addEventListener("blur", () => {
    if (entry.value.trim()) add(entry.value);
  });
  sync();
  return { values: () => options.filter((o) => o.selected).map((o) => o.value), add };
}
