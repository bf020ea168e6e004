// The API seen from the page: URLs relative to the page's <base> (so a stage prefix such as "/prod/" is kept),
// the session cookie sent with every call, and errors carrying the server's `detail`.

const API_ROOT = new URL("api/v1/", document.baseURI);

export class ApiError extends Error {
  constructor(status, message, detail) {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

export function apiUrl(path) {
  return new URL(path.replace(/^\/+/, ""), API_ROOT).href;
}

/** The URL of one artifact: each path segment encoded, the slashes kept. */
export function artifactUrl(jobId, artifactPath) {
  const encoded = artifactPath.split("/").map(encodeURIComponent).join("/");
  return apiUrl(`jobs/${encodeURIComponent(jobId)}/artifacts/${encoded}`);
}

/** A readable sentence from a `detail` (a string, or FastAPI's list of {loc, msg}). */
export function describeDetail(detail, status) {
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => {
      const where = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
      return where ? `${where}: ${d.msg}` : String(d.msg ?? JSON.stringify(d));
    }).join("; ");
  }
  if (detail && typeof detail === "object") return JSON.stringify(detail);
  return `HTTP ${status}`;
}

const unauthorizedListeners = new Set();

/** Called whenever the API answers 401: the session ended or was revoked. */
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
}

export async function request(method, path, { json, body, headers = {}, quiet401 = false } = {}) {
  const init = { method, headers: { accept: "application/json", ...headers }, credentials: "same-origin" };
  if (json !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  let response;
  try {
    response = await fetch(apiUrl(path), init);
  } catch (err) {
    throw new ApiError(0, `The server cannot be reached (${err.message}).`, null);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const detail = data && typeof data === "object" && "detail" in data ? data.detail : data;
    let message = describeDetail(detail, response.status);
    const retryAfter = response.headers.get("retry-after");
    if (retryAfter) message += ` (retry after ${retryAfter} s)`;
    if (response.status === 401 && !quiet401) unauthorizedListeners.forEach((fn) => fn());
    throw new ApiError(response.status, message, detail);
  }
  return data;
}

export const api = {
  session: () => request("GET", "auth/session", { quiet401: true }),
  signIn: (apiKey) => request("POST", "auth/session", { json: { api_key: apiKey }, quiet401: true }),
  signOut: () => request("DELETE", "auth/session", { quiet401: true }),
  health: () => request("GET", "health?detailed=true", { quiet401: true }),
  jobs: (limit = 50) => request("GET", `jobs?limit=${limit}`),
  job: (id) => request("GET", `jobs/${encodeURIComponent(id)}?file_limit=1000&event_limit=500`),
  artifacts: (id) => request("GET", `jobs/${encodeURIComponent(id)}/artifacts`),
  retry: (id) => request("POST", `jobs/${encodeURIComponent(id)}/retry-failures`),
  cancel: (id) => request("POST", `jobs/${encodeURIComponent(id)}/cancel`),
  cleanup: (id) => request("DELETE", `jobs/${encodeURIComponent(id)}/artifacts`),
  sessions: (limit = 100) => request("GET", `sessions?limit=${limit}`),
  sessionDetail: (id) => request("GET", `sessions/${encodeURIComponent(id)}`),
  presets: () => request("GET", "config/presets"),
  currentPreset: () => request("GET", "config/current-preset"),
  previewPreset: (name) => request("GET", `config/presets/${encodeURIComponent(name)}/preview`),
  applyPreset: (name) => request("POST", `config/presets/${encodeURIComponent(name)}/apply`),
};
