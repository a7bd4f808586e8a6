// The public HTTP API, called with the signed-in token (kept in sessionStorage: it goes when the
// tab closes). Problems (RFC 9457) become ApiError with their field errors.

const TOKEN_KEY = "lrhub.token";

export const session = {
  token: sessionStorage.getItem(TOKEN_KEY),
  /** {name, role, auth} from GET /v1/me, once known. */
  me: null,
};

export function setToken(token) {
  session.token = token || null;
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Whether the signed-in role may change jobs and schedules. */
export function canOperate() {
  return session.me !== null && (session.me.role === "admin" || session.me.role === "operator");
}

export function isAdmin() {
  return session.me !== null && session.me.role === "admin";
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem && problem.detail ? problem.detail : `the server answered ${status}`);
    this.status = status;
    this.problem = problem;
    /** [{loc, msg}] naming each invalid field, e.g. loc "body.spec.factor". */
    this.errors = (problem && problem.errors) || [];
  }
}

export function authHeaders() {
  return session.token ? { Authorization: `Bearer ${session.token}` } : {};
}

/** The URL of `path` on this server with `query` (arrays repeat the parameter; null is left out). */
export function apiUrl(path, query = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query)) {
    if (value === null || value === undefined || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(item));
  }
  return url;
}

/** Call the API; answers the decoded JSON (null for 204), throws ApiError for a problem. */
export async function api(method, path, { query = {}, body, signal } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(apiUrl(path, query), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text };
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Every item of a paged list (`{items, next_cursor}`), page by page; `onPage(items)` sees
 * each page as it arrives (a long history is drawn while the rest loads). */
export async function allItems(path, query = {}, { signal, onPage } = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await api("GET", path, { query: { ...query, limit: 1000, cursor }, signal });
    items.push(...page.items);
    if (onPage) onPage(page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

export const jobPath = (jobId) => `/v1/jobs/${encodeURIComponent(jobId)}`;
