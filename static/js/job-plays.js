// A playbook job's plays → tasks → hosts (templates/jobs/_plays.html), folding open and shut
// like AWX's job output. Plays and tasks are <details> elements: the browser folds them, the
// keyboard works. A host's button opens its full result (the JSON Ansible reported, secrets
// masked on the server) in the panel below the outline.
//
// The outline (GET /jobs/<id>/plays/) is read when the panel is first opened; while the job
// runs and the panel is open it is read again every POLL_MS, and once more when the page says
// the job ended (`livchat:job-ended`, common.js). What is open stays open across readings.
import { FINAL_STATUSES, getJson, whenJobEnded } from "./common.js";

const POLL_MS = 2000;
const STATE_WORDS = {
  ok: "ok",
  changed: "changed",
  failed: "failed",
  unreachable: "unreachable",
  skipped: "skipped",
  ignored: "failed (ignored)",
  running: "running",
};
const COUNT_ORDER = ["failed", "unreachable", "changed", "ok", "ignored", "skipped", "running"];

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text; // names come from playbooks and hosts: text only
  return node;
}

function part(root, name) {
  return root.querySelector(`[data-plays="${name}"]`);
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export class PlaysPanel {
  constructor(root) {
    this.root = root;
    this.jobId = root.dataset.playsJob;
    this.final = root.dataset.final === "yes";
    Object.assign(this, {
      tree: part(root, "tree"),
      empty: part(root, "empty"),
      summary: part(root, "summary"),
      tools: part(root, "tools"),
      result: part(root, "result"),
      resultMeta: part(root, "result-meta"),
      resultText: part(root, "result-text"),
    });
    this.open = new Set(); // keys of the plays and tasks someone opened
    this.shut = new Set(); // keys of the plays someone shut (plays start open)
    this.loaded = "";
    this.timer = null;
    this.picked = null;
  }

  start() {
    this.root.addEventListener("toggle", () => {
      if (this.root.open) this.load();
      else clearTimeout(this.timer);
      this.refit();
    });
    part(this.root, "expand").addEventListener("click", () => this.foldAll(true));
    part(this.root, "collapse").addEventListener("click", () => this.foldAll(false));
    part(this.root, "result-close").addEventListener("click", () => this.closeResult());
    part(this.root, "result-copy").addEventListener("click", () => {
      navigator.clipboard?.writeText(this.resultText.textContent);
    });
    this.tree.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-n]");
      if (button) this.showResult(button);
    });
    // <details> toggle events do not bubble: catch them on the way down.
    this.tree.addEventListener("toggle", (event) => this.remember(event.target), true);
    whenJobEnded(this.jobId, () => {
      this.final = true;
      if (this.root.open) this.load();
      else this.loaded = ""; // read again when opened
    });
    if (this.root.open) this.load();
  }

  remember(node) {
    const key = node.dataset && node.dataset.key;
    if (!key) return;
    const isPlay = node.classList.contains("play");
    if (node.open) {
      this.open.add(key);
      this.shut.delete(key);
    } else {
      this.open.delete(key);
      if (isPlay) this.shut.add(key);
    }
  }

  async load() {
    clearTimeout(this.timer);
    let outline = null;
    try {
      outline = await getJson(`/jobs/${encodeURIComponent(this.jobId)}/plays/`);
    } catch (err) {
      this.empty.textContent = `Could not read the tasks: ${err.message}`;
      this.empty.hidden = false;
    }
    if (outline) {
      if (FINAL_STATUSES.has(outline.status)) this.final = true;
      const text = JSON.stringify(outline);
      if (text !== this.loaded) {
        this.loaded = text;
        this.draw(outline);
      }
    }
    if (!this.final && this.root.open) this.timer = setTimeout(() => this.load(), POLL_MS);
  }

  draw(outline) {
    const plays = outline.plays || [];
    const refused = Object.entries(outline.refused || {});
    const tasks = plays.reduce((n, play) => n + play.tasks.length, 0);
    const counted = [plural(plays.length, "play"), plural(tasks, "task"), plural(outline.results, "host result")];
    const first = outline.truncated ? " (the first ones)" : "";
    this.summary.textContent = plays.length ? `${counted.join(" · ")}${first}` : "each host's result, task by task";
    let note = "";
    if (!plays.length) {
      if (outline.expired) note = "The results of this job have expired (log retention).";
      else if (outline.final) note = refused.length ? "No task ran." : "No task results were kept for this job.";
      else note = "No task has run yet.";
    }
    this.empty.textContent = note;
    this.empty.hidden = !note;
    this.tools.hidden = !plays.length;
    const nodes = refused.map(([host, reason]) => el("p", "plays-refused", `${host}: not run: ${reason}`));
    plays.forEach((play, p) => nodes.push(this.drawPlay(play, `p${p}`)));
    this.tree.replaceChildren(...nodes);
    this.refit();
  }

  // The log pane below fills the window's height from where it starts (logviewer.js refits on
  // a resize): the outline growing or shrinking moves that start.
  refit() {
    window.dispatchEvent(new Event("resize"));
  }

  drawPlay(play, key) {
    const node = el("details", "play");
    node.dataset.key = key;
    node.open = !this.shut.has(key);
    const summary = el("summary", "", `PLAY ${play.name || "(unnamed)"}`);
    node.append(summary);
    play.tasks.forEach((task, t) => node.append(this.drawTask(task, `${key}t${t}`)));
    if (!play.tasks.length) node.append(el("p", "muted small", "No tasks yet."));
    return node;
  }

  drawTask(task, key) {
    const node = el("details", "task");
    node.dataset.key = key;
    node.open = this.open.has(key);
    const summary = el("summary");
    summary.append(el("span", "task-name", task.name || "(unnamed task)"));
    if (task.action) summary.append(" ", el("span", "task-action", task.action));
    const counts = el("span", "task-counts");
    const states = Object.keys(task.counts || {}).sort((a, b) => COUNT_ORDER.indexOf(a) - COUNT_ORDER.indexOf(b));
    for (const state of states) {
      counts.append(el("span", `badge hs-${state}`, `${task.counts[state]} ${STATE_WORDS[state] || state}`));
    }
    summary.append(counts);
    const hosts = el("ul", "task-hosts");
    for (const host of task.hosts) {
      const button = el("button", `host-result hr-${host.status}`);
      button.type = "button";
      button.append(el("span", "hr-host", host.host), el("span", "hr-state", STATE_WORDS[host.status] || host.status));
      if (host.n === undefined) {
        button.disabled = true;
        button.title = "still running: its result comes when it ends";
      } else {
        button.dataset.n = String(host.n);
        button.dataset.host = host.host;
        button.dataset.task = task.name;
        button.title = "show this host's full result";
        button.setAttribute("aria-pressed", String(this.picked === String(host.n)));
      }
      const item = el("li");
      item.append(button);
      hosts.append(item);
    }
    node.append(summary, hosts);
    return node;
  }

  foldAll(open) {
    for (const node of this.tree.querySelectorAll("details")) {
      node.open = open;
      this.remember(node);
    }
  }

  async showResult(button) {
    this.picked = button.dataset.n;
    for (const other of this.tree.querySelectorAll("button[data-n]")) {
      other.setAttribute("aria-pressed", String(other === button));
    }
    this.resultMeta.textContent = `${button.dataset.host} · ${button.dataset.task} · loading…`;
    this.resultText.textContent = "";
    this.result.hidden = false;
    let record;
    try {
      record = await getJson(`/jobs/${encodeURIComponent(this.jobId)}/plays/${encodeURIComponent(this.picked)}/`);
    } catch (err) {
      this.resultMeta.textContent = `${button.dataset.host} · ${button.dataset.task} · ${err.message}`;
      return;
    }
    if (this.picked !== button.dataset.n) return; // another host was picked meanwhile
    const { k: _kind, play_uuid: _play, task_uuid: _task, ...shown } = record;
    const took = typeof record.duration === "number" ? ` · ${record.duration.toFixed(2)} s` : "";
    const state = STATE_WORDS[record.status] || record.status;
    this.resultMeta.textContent = `${record.host} · ${record.task} · ${state}${took}`;
    this.resultText.textContent = JSON.stringify(shown, null, 2);
    this.refit();
    this.result.scrollIntoView({ block: "nearest" });
  }

  closeResult() {
    this.result.hidden = true;
    this.refit();
    this.picked = null;
    for (const button of this.tree.querySelectorAll("button[data-n]")) button.setAttribute("aria-pressed", "false");
  }
}

const panel = document.getElementById("job-plays");
if (panel) new PlaysPanel(panel).start();
