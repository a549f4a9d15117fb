// The job page (and the admin job detail): mount the live log viewer. When the job ends,
// the page says so with the `livchat:job-ended` event (common.js), which the playbook
// recap listens to, and each new status with `livchat:job-status` (the approval panel's).
// "Re-run" asks first (its form's data-confirm says what will happen).
import { announceJobEnded, announceJobStatus } from "./common.js";
import { LogViewer } from "./logviewer.js";

for (const root of document.querySelectorAll("[data-logviewer]")) {
  new LogViewer(root, {
    onEnded: (jobId, status) => announceJobEnded(jobId, status),
    onStatusChange: (jobId, status) => announceJobStatus(jobId, status),
  }).start();
}

const rerunForm = document.getElementById("rerun-form");
if (rerunForm) {
  rerunForm.addEventListener("submit", (event) => {
    if (!window.confirm(rerunForm.dataset.confirm)) event.preventDefault();
  });
}
