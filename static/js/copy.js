// "Copy" buttons: <button data-copy="#id"> copies the text of the element it names (a new API
// token is shown only once). The button is hidden in the page and shown here, so a page read
// without scripts offers no button that does nothing.
//
// navigator.clipboard needs a secure context (https or localhost) and may be refused; the
// fallback selects the text and uses execCommand("copy"), and if that fails too the text stays
// selected for Ctrl-C, which the status line then says.

async function copyText(text, source) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // refused: fall back below
  }
  const range = document.createRange();
  range.selectNodeContents(source);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  }
}

for (const button of document.querySelectorAll("button[data-copy]")) {
  const source = document.querySelector(button.dataset.copy);
  if (!source) continue;
  const status = button.parentElement.querySelector("[data-copy-status]");
  button.hidden = false;
  button.addEventListener("click", async () => {
    const copied = await copyText(source.textContent.trim(), source);
    const words = copied ? "Copied." : "Could not copy: the token is selected, press Ctrl-C (⌘-C).";
    if (status) status.textContent = words;
    button.textContent = copied ? "Copied" : "Copy";
    button.dataset.copied = copied ? "yes" : "no";
  });
}
