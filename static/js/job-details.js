// The job page's details panel (templates/jobs/_details.html): the elapsed time ticking while
// the job runs, and the per-host status bar of a job on many servers kept current.
//
// What the page says about the job's status comes from the log viewer's feed, through the
// `livchat:job-status` and `livchat:job-ended` events (common.js): on each, the panel reads its
// facts once (GET /jobs/<id>/facts/: status, times, per-host counts). A job on many servers
// changes its hosts' states without changing its own status, so while it runs the bar is also
// read every POLL_MS.
import { FINAL_STATUSES, JOB_STATUS, getJson, whenJobEnded } from "./common.js";
import { durationText } from "./live-lists.js";

const POLL_MS = 2000;
const TICK_MS = 1000;

export class JobDetails {
  constructor(panel) {
    this.panel = panel;
    this.jobId = panel.dataset.jobDetails;
    this.status = panel.dataset.status;
    this.started = Date.parse(panel.dataset.started || "");
    this.finished = Date.parse(panel.dataset.finished || "");
    this.elapsed = document.getElementById("job-elapsed");
    this.label = panel.querySelector("[data-elapsed-label]");
    this.bar = document.getElementById("job-hosts-bar");
    this.tickTimer = null;
    this.pollTimer = null;
    this.ended = false;
  }

  start() {
    if (this.bar) this.sizeBar();
    this.show();
    document.addEventListener(JOB_STATUS, (event) => {
      if (event.detail.jobId === this.jobId && event.detail.status !== this.status) this.refresh();
    });
    whenJobEnded(this.jobId, () => {
      this.ended = true;
      this.refresh();
    });
    if (!FINAL_STATUSES.has(this.status) && this.bar) this.schedulePoll();
  }

  running() {
    return this.status === "running" && !Number.isNaN(this.started) && Number.isNaN(this.finished);
  }

  // The elapsed time: ticking from `started` while running, fixed once finished.
  show() {
    clearInterval(this.tickTimer);
    this.tickTimer = null;
    if (this.running()) {
      this.label.textContent = "Elapsed";
      this.elapsed.dataset.elapsedState = "running";
      const tick = () => {
        this.elapsed.textContent = durationText((Date.now() - this.started) / 1000);
      };
      tick();
      this.tickTimer = setInterval(tick, TICK_MS);
      return;
    }
    this.label.textContent = "Duration";
    if (Number.isNaN(this.started)) {
      this.elapsed.dataset.elapsedState = "none";
      return;
    }
    if (!Number.isNaN(this.finished)) {
      this.elapsed.dataset.elapsedState = "done";
      this.elapsed.textContent = durationText((this.finished - this.started) / 1000);
    }
  }

  async refresh() {
    let facts;
    try {
      facts = await getJson(`/jobs/${encodeURIComponent(this.jobId)}/facts/`);
    } catch {
      return; // a hiccup: the next status change or poll reads again
    }
    this.status = facts.status;
    this.panel.dataset.status = facts.status;
    this.started = Date.parse(facts.started_at || "");
    this.finished = Date.parse(facts.finished_at || "");
    // Ended without a finish time: its own (server's) elapsed text says so.
    if (FINAL_STATUSES.has(facts.status) && Number.isNaN(this.finished)) {
      this.elapsed.textContent = facts.elapsed.text;
    }
    this.show();
    if (this.bar && facts.hosts) this.paintBar(facts.hosts);
  }

  schedulePoll() {
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(async () => {
      await this.refresh();
      if (!this.ended && !FINAL_STATUSES.has(this.status)) this.schedulePoll();
    }, POLL_MS);
  }

  // Segments as wide as their counts (the CSP allows no style attribute: set from here).
  sizeBar() {
    for (const seg of this.bar.querySelectorAll(".hb-seg")) seg.style.flexGrow = seg.dataset.count || "1";
  }

  paintBar(hosts) {
    const track = this.bar.querySelector("[data-hb=track]");
    const segments = hosts.parts.map((part) => {
      const seg = document.createElement("span");
      seg.className = `hb-seg hb-${part.state}`;
      seg.dataset.state = part.state;
      seg.dataset.count = String(part.count);
      seg.title = `${part.count} ${part.word}`;
      return seg;
    });
    track.replaceChildren(...segments);
    track.setAttribute("aria-label", hosts.text);
    this.bar.querySelector("[data-hb=text]").textContent = hosts.text;
    this.bar.dataset.total = String(hosts.total);
    this.sizeBar();
  }
}

const panel = document.querySelector("[data-job-details]");
if (panel) new JobDetails(panel).start();
