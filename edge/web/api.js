// REST calls to the edge and the session's bearer token (kept in sessionStorage only).

const TOKEN_KEY = "deltastream.token";
const USER_KEY = "deltastream.user";
const REQUEST_TIMEOUT_MS = 10_000;

/** The server wants a (new) token: REST 401 or a refused Socket.IO connection. */
export class AuthRequired extends Error {
  constructor(detail) {
    super(detail || "authentication required");
    this.name = "AuthRequired";
  }
}

/** Any other error answer: `{"error": code, "detail": text}`. */
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function username() {
  return sessionStorage.getItem(USER_KEY);
}

export function saveSession(reply) {
  sessionStorage.setItem(TOKEN_KEY, reply.token);
  sessionStorage.setItem(USER_KEY, reply.user?.username ?? "");
}

export function clearSession() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
}

async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (res.ok) return data;
  if (res.status === 401 && !path.startsWith("/api/auth/")) throw new AuthRequired(data?.detail);
  throw new ApiError(res.status, data?.error, data?.detail);
}

export const get = (path) => request("GET", path);

export async function login(user, password) {
  const reply = await request("POST", "/api/auth/login", { username: user, password });
  saveSession(reply);
  return reply;
}

export async function register(user, password) {
  const reply = await request("POST", "/api/auth/register", { username: user, password });
  saveSession(reply);
  return reply;
}

export const products = () => get("/api/data/products");

export function pcrHistory(product, expiry, limit = 500) {
  const q = new URLSearchParams({ expiry, history: "true", limit: String(limit) });
  return get(`/api/analytics/pcr/${encodeURIComponent(product)}?${q}`);
}

export function summary(product, expiry) {
  return get(`/api/analytics/summary/${encodeURIComponent(product)}?expiry=${encodeURIComponent(expiry)}`);
}

export function surface(product) {
  return get(`/api/analytics/volatility-surface/${encodeURIComponent(product)}`);
}

/** The REST chain (rows per strike) in the column-wise shape of the `chain_update` event. */
export async function chain(product, expiry) {
  const body = await get(`/api/data/chain/${encodeURIComponent(product)}?expiry=${encodeURIComponent(expiry)}`);
  const side = (key) => {
    const out = {};
    for (const row of body.rows) {
      for (const [field, value] of Object.entries(row[key])) (out[field] ??= []).push(value);
    }
    return out;
  };
  return { ...body, strikes: body.rows.map((r) => r.strike), calls: side("call"), puts: side("put") };
}
