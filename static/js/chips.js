// Tag chips over a plain comma-separated text input (server form, template form).
//
// The real input stays the value that is submitted: it is hidden and the chips only edit it,
// so the page works the same without JavaScript (a comma-separated text field).

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
