// The one door to ToolHive: the public REST API (/api/v1beta). Every view uses these helpers, so
// anything the UI does, a script with curl can do too.

export const BASE = "/api/v1beta";
const TOKEN_KEY = "toolhive.token";

/** An API answer that was not 2xx: ToolHive's {code, message[, field]} body. */
export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field || "";
  }
}

/** A bearer token the user pasted (thv serve with --oidc-issuer); kept for this tab only. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function authHeaders(extra = {}) {
  const headers = { ...extra };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  return headers;
}

/** Fetch `path` (relative to /api/v1beta unless it starts with "/"): parsed JSON, text, or null. */
export async function request(method, path, body, { signal, accept } = {}) {
  const url = path.startsWith("/") ? path : `${BASE}/${path}`;
  const init = { method, signal, headers: authHeaders(accept ? { Accept: accept } : {}) };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  const type = res.headers.get("Content-Type") || "";
  if (!res.ok) {
    let message = `${method} ${url} answered ${res.status}`;
    let field = "";
    if (type.includes("json")) {
      const err = await res.json().catch(() => null);
      if (err && err.message) {
        message = err.message;
        field = err.field || "";
      }
    } else {
      const text = await res.text().catch(() => "");
      if (text) message = text;
    }
    if (res.status === 401) window.dispatchEvent(new CustomEvent("toolhive:unauthorized"));
    throw new ApiError(res.status, message, field);
  }
  if (res.status === 204 || res.status === 202) {
    return type.includes("json") ? res.json().catch(() => null) : null;
  }
  if (type.includes("json")) return res.json();
  return res.text();
}

export const get = (path, opts) => request("GET", path, undefined, opts);
export const post = (path, body, opts) => request("POST", path, body === undefined ? {} : body, opts);
export const put = (path, body, opts) => request("PUT", path, body, opts);
export const del = (path, opts) => request("DELETE", path, undefined, opts);

/** Path segment escaping (workload, group and registry server names). */
export const seg = (s) => encodeURIComponent(s);
