// The job page (and the admin job detail): mount the live log viewer. When the job ends,
// the page says so with the `livchat:job-ended` event (common.js), which the playbook
// recap listens to, and each new status with `livchat:job-status` (the approval panel's).
// "Re-run" and "Relaunch on failed hosts" ask first (each form's data-confirm says what will
// happen). The details panel (job-details.js) and a playbook's plays (job-plays.js) are modules
// of their own, listening to the same events.
import { announceJobEnded, announceJobStatus } from "./common.js";
import { LogViewer } from "./logviewer.js";

for (const root of document.querySelectorAll("[data-logviewer]")) {
  new LogViewer(root, {
    onEnded: (jobId, status) => announceJobEnded(jobId, status),
    onStatusChange: (jobId, status) => announceJobStatus(jobId, status),
  }).start();
}

for (const form of document.querySelectorAll(".job-actions form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}
