// Every <select multiple data-chips> of a page becomes tag chips (chips.js), so choosing several
// servers or tags needs no Ctrl-click; hints that explain Ctrl-click ([data-multi-hint]) go.
// Loaded by base.html on every page; a page without such a select costs one query selector.

import { setupSelectChips } from "./chips.js";

const selects = document.querySelectorAll("select[multiple][data-chips]");
for (const select of selects) setupSelectChips(select);
if (selects.length) for (const hint of document.querySelectorAll("[data-multi-hint]")) hint.hidden = true;
