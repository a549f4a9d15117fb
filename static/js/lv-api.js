// The JSON API calls the viewer makes (session cookie + CSRF header for the POST).
import { getJson } from "./common.js";

export class Api {
  constructor(jobId, csrf) {
    this.base = `/api/jobs/${encodeURIComponent(jobId)}`;
    this.csrf = csrf;
  }

  logs(params) {
    const url = new URL(`${this.base}/logs`, location.origin);
    for (const [name, value] of Object.entries(params)) {
      if (value !== "" && value !== null && value !== undefined) url.searchParams.set(name, value);
    }
    return getJson(url);
  }

  job() {
    return getJson(`${this.base}?recent=0`);
  }

  async cancel() {
    const response = await fetch(`${this.base}/cancel`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": this.csrf, Accept: "application/json" },
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    return body;
  }
}
