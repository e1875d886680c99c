/**
 * Every call the console makes: to the gateway's documented /v1 routes, with the admin token in
 * the Authorization header. The token lives in sessionStorage (this tab only) and never in a URL.
 */
const TOKEN_KEY = "brain-console-admin-token";

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  signIn: (token: string) => sessionStorage.setItem(TOKEN_KEY, token),
  signOut: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** An answer other than 2xx, carrying the gateway's error code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let onUnauthorized: () => void = () => {};
/** Called when the gateway refuses the token (revoked, or a tab signed in with a stale one). */
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

/** Headers of an authenticated call. */
export function authHeaders(token = session.token()): Record<string, string> {
  return token === null ? {} : { authorization: `Bearer ${token}` };
}

async function failure(res: Response): Promise<ApiError> {
  const body = (await res.json().catch(() => null)) as { code?: string; message?: string } | null;
  return new ApiError(res.status, body?.code ?? `HTTP_${res.status}`, body?.message ?? res.statusText);
}

/** Calls a /v1 route with the session's token; rejects with an ApiError on any non-2xx answer. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers = authHeaders();
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  if (res.status === 401) onUnauthorized();
  if (!res.ok) throw await failure(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/**
 * Checks a token before keeping it: an admin route answers 401 for an unknown token and 403 for
 * one without the admin scope.
 */
export async function checkToken(token: string): Promise<string | null> {
  const res = await fetch("/v1/subscribers", { headers: authHeaders(token), cache: "no-store" });
  if (res.ok) return null;
  if (res.status === 401) return "Wrong token: the gateway does not know it.";
  if (res.status === 403) return "This token lacks the admin scope.";
  return (await failure(res)).message;
}

/** Builds a query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s === "" ? "" : `?${s}`;
}

export const enc = encodeURIComponent;
