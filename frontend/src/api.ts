// Small REST client for the demo endpoints served by every stomp-relay node.
// URLs are resolved relative to the page so the app also works when mounted
// under a context path; served at "/" they become /api/demo/... as usual.

export interface DemoInfo {
  node: string;
  tokenTtlSeconds: number;
}

export interface DemoToken {
  token: string;
  /** epoch seconds */
  expiresAt: number;
}

/** One user in `GET /api/demo/online`. */
export interface OnlineUser {
  user: string;
  /** sessions on all nodes together */
  sessions: number;
  /** node ids holding them, sorted */
  nodes: string[];
}

/** `GET /api/demo/online`: who is online across the cluster (anonymous sessions are not users). */
export interface Online {
  /** the node that answered */
  node: string;
  /** users online */
  total: number;
  /** the first 100 users by name */
  users: OnlineUser[];
  /** users not listed */
  more: number;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const REQUEST_TIMEOUT_MS = 10_000;

export function apiUrl(path: string): string {
  return new URL(path, window.location.href).toString();
}

/** ws(s)://<same host>/ws, following the page's scheme. */
export function webSocketUrl(): string {
  const url = new URL('ws', window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = '';
  url.hash = '';
  return url.toString();
}

async function errorFrom(res: Response): Promise<ApiError> {
  let text = '';
  try {
    text = await res.text();
  } catch {
    /* ignore */
  }
  let message = `HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}`;
  if (text) {
    try {
      // RFC 9457 problem details: {"title","detail",...}
      const body = JSON.parse(text) as { title?: unknown; detail?: unknown; message?: unknown; error?: unknown };
      const detail = [body.detail, body.message, body.error].find((v) => typeof v === 'string' && v);
      const title = typeof body.title === 'string' ? body.title : '';
      if (title && detail) message = `${title}: ${detail}`;
      else if (detail || title) message = String(detail || title);
    } catch {
      message += `: ${text.slice(0, 200)}`;
    }
  }
  return new ApiError(message, res.status);
}

async function request<T>(path: string, init?: RequestInit, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
  let res: Response;
  try {
    res = await fetch(apiUrl(path), {
      ...init,
      credentials: 'same-origin',
      signal: AbortSignal.timeout(timeoutMs),
      headers: { Accept: 'application/json', ...(init?.headers ?? {}) },
    });
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new ApiError(`${path} unreachable (${reason})`, 0);
  }
  if (!res.ok) throw await errorFrom(res);
  return (await res.json()) as T;
}

export function fetchInfo(): Promise<DemoInfo> {
  return request<DemoInfo>('api/demo/info');
}

export async function fetchToken(username: string): Promise<DemoToken> {
  const token = await request<DemoToken>('api/demo/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username }),
  });
  if (!token || typeof token.token !== 'string' || typeof token.expiresAt !== 'number') {
    throw new ApiError('token endpoint returned an unexpected body', 200);
  }
  return token;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Who is online across the cluster; the page polls it every second while signed in. */
export async function fetchOnline(timeoutMs: number): Promise<Online> {
  const body = await request<Partial<Online>>('api/demo/online', undefined, timeoutMs);
  const users = Array.isArray(body?.users) ? body.users : null;
  if (
    !body ||
    !isString(body.node) ||
    !isCount(body.total) ||
    !isCount(body.more) ||
    !users ||
    !users.every((u) => u && isString(u.user) && isCount(u.sessions) && Array.isArray(u.nodes) && u.nodes.every(isString))
  ) {
    throw new ApiError('api/demo/online returned an unexpected body', 200);
  }
  return body as Online;
}

/**
 * `DELETE /api/users/{user}/sessions` with an admin token: every session of the user, on every
 * node, gets ERROR "disconnected by server". Answers 202 {"id"} at once.
 */
export async function disconnectUser(user: string, adminToken: string): Promise<{ id: string }> {
  const body = await request<{ id?: unknown }>(`api/users/${encodeURIComponent(user)}/sessions`, {
    method: 'DELETE',
    headers: { Authorization: `Bearer ${adminToken}` },
  });
  return { id: isString(body?.id) ? body.id : '?' };
}
