// The "Add server" / "Edit server" page: tag chips, and "Test connection" without a reload.
//
// Without this module the page still works: tags are a comma-separated text field and
// "Test connection" is a plain form post. With it, the real tags input stays the value that is
// submitted (chips only edit it), and the test posts the same form data asking for JSON, so
// typed secrets stay in the page. A field's error sits under that field (the server's, or the
// test's) and goes away as soon as the field is changed: it described the old value.
// For tests the page exposes `window.livchatServerForm`.

import { setupTagChips } from "./chips.js";
import { csrfToken } from "./common.js";

const form = document.getElementById("server-form");
if (form) {
  const tagChips = setupTagChips(form.querySelector("input[name=tags]"));
  const fieldErrors = setupFieldErrors(form);
  const hostKey = setupConnectionTest(form, () => tagChips.flush(), fieldErrors);
  window.livchatServerForm = { tags: () => tagChips.values(), lastTest: () => hostKey.last() };
}

// ---- errors under their fields ----------------------------------------------------------------
function setupFieldErrors(form) {
  const errorsOf = (name) => [...form.querySelectorAll(`.field-error[data-field="${name}"]`)];

  function clear(name) {
    for (const el of errorsOf(name)) el.remove();
    const input = form.elements.namedItem(name);
    if (input && input.removeAttribute) input.removeAttribute("aria-invalid");
  }

  // Where a field's message goes: after its widget (after the chip box for tags, after the
  // label a checkbox sits in).
  function anchorOf(name) {
    const input = form.elements.namedItem(name);
    if (!input || !input.tagName) return null;
    if (input.type === "checkbox" && input.closest("label")) return input.closest("label");
    const chips = input.nextElementSibling;
    return chips && chips.classList.contains("chips") ? chips : input;
  }

  function show(errors) {
    let placed = 0;
    for (const [name, messages] of Object.entries(errors || {})) {
      const anchor = anchorOf(name);
      if (!anchor) continue;
      clear(name);
      let after = anchor;
      for (const message of messages) {
        const p = document.createElement("p");
        p.className = "field-error";
        p.dataset.field = name;
        p.textContent = message;
        after.after(p);
        after = p;
      }
      form.elements.namedItem(name).setAttribute("aria-invalid", "true");
      placed += 1;
    }
    return placed;
  }

  // Typing in a field (or a chip entry, or picking a file) retires what was said about it.
  const retire = (event) => {
    const target = event.target;
    const name = target.classList.contains("chip-entry") ? "tags" : target.name;
    if (name) clear(name);
  };
  form.addEventListener("input", retire);
  form.addEventListener("change", retire);
  return { show, clear };
}

// ---- test connection -----------------------------------------------------------------------
function setupConnectionTest(form, beforeSend, fieldErrors) {
  const button = document.getElementById("test-connection");
  const status = document.getElementById("test-status");
  const error = document.getElementById("test-error");
  const result = document.getElementById("hostkey-result");
  const confirm = form.querySelector("input[name=confirm_fingerprint]");
  const confirmLine = document.getElementById("confirm-line");
  const hidden = (name) => form.querySelector(`input[name=${name}]`);
  const show = (id, text) => {
    const el = document.getElementById(id);
    if (el) el.textContent = text;
    return el;
  };
  let last = null;
  let running = false;

  function forget() {
    // A new host or port: the key seen before says nothing about it.
    for (const name of ["host_key", "host_key_fingerprint", "probed_address"]) hidden(name).value = "";
    if (confirm) confirm.checked = false;
    result.hidden = true;
    last = null;
  }

  function render(data) {
    last = data;
    error.hidden = true;
    const changed = hidden("host_key_fingerprint").value !== data.fingerprint;
    hidden("host_key").value = data.public_key;
    hidden("host_key_fingerprint").value = data.fingerprint;
    hidden("probed_address").value = data.address;
    if (changed && confirm) confirm.checked = false;
    show("hk-address", data.address);
    show("hk-type", data.key_type);
    show("hk-fingerprint", data.fingerprint);
    const match = document.getElementById("hk-match");
    match.hidden = data.matches_pin === null;
    match.textContent = data.matches_pin ? "This is the pinned key." : "This is not the pinned key.";
    if (confirmLine) confirmLine.hidden = data.matches_pin !== null;
    const login = show("login-result", data.logged_in_as ? `Logged in as ${data.logged_in_as}.` : data.problem);
    login.dataset.state = data.logged_in_as ? "ok" : data.login_tried ? "failed" : "waiting";
    result.hidden = false;
  }

  async function run() {
    if (running) return;
    running = true;
    button.disabled = true;
    status.textContent = "Connecting…";
    beforeSend();
    const body = new FormData(form);
    body.set("action", "test");
    try {
      // Not form.action: the submit buttons are named "action", which shadows that property.
      const response = await fetch(form.getAttribute("action") || location.href, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken(form) },
      });
      let data = {};
      try {
        data = await response.json();
      } catch {
        data = { ok: false, error: `The test failed (HTTP ${response.status}).` };
      }
      if (data.ok) {
        render(data);
        status.textContent = "";
      } else {
        // Field errors go under their fields; the line by the button says where to look.
        const placed = fieldErrors.show(data.errors);
        const onlyFields = placed && response.status === 400;
        error.textContent = onlyFields ? "Fix the fields marked above, then test again." : data.error || "The test failed.";
        error.hidden = false;
        status.textContent = "";
      }
      form.dispatchEvent(new CustomEvent("livchat:connection-tested", { detail: data }));
    } catch (exc) {
      error.textContent = `The test could not be sent: ${exc.message}`;
      error.hidden = false;
      status.textContent = "";
    } finally {
      running = false;
      button.disabled = false;
    }
  }

  button.addEventListener("click", (event) => {
    event.preventDefault();
    run();
  });
  // Confirming the fingerprint is what allows the login: test it right away.
  if (confirm) {
    confirm.addEventListener("change", () => {
      if (confirm.checked && hidden("host_key_fingerprint").value) run();
    });
  }
  for (const name of ["host", "port"]) {
    const input = form.querySelector(`input[name=${name}]`);
    let before = input.value;
    input.addEventListener("change", () => {
      if (input.value !== before && hidden("host_key_fingerprint").value) forget();
      before = input.value;
    });
  }
  return { last: () => last };
}
