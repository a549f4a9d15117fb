// The job page (and the admin job detail): mount the live log viewer.
import { LogViewer } from "./logviewer.js";

for (const root of document.querySelectorAll("[data-logviewer]")) new LogViewer(root).start();
