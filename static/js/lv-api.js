// The JSON API calls the viewer makes (session cookie + CSRF header for the POST).
import { getJson } from "./common.js";

export class Api {
  constructor(jobId, csrf) {
    this.base = `/api/jobs/${encodeURIComponent(jobId)}`;
    this.csrf = csrf;
  }

  logs(params) {
    const url = new URL(`${this.base}/logs`, location.origin);
    for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) url.searchParams.set(k, v);
    return getJson(url);
  }

  job() {
    return getJson(`${this.base}?recent=0`);
  }

  async cancel() {
    const r = await fetch(`${this.base}/cancel`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": this.csrf, Accept: "application/json" },
    });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
    return body;
  }
}
