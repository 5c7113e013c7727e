import { PASSWORD, uniqueEmail } from './harness.js';

/**
 * A thin HTTP client over `app.request()` (no server, no sockets), or over anything with the
 * same `request(path, init)`: the contract tests point it at a worker in workerd.
 */
export interface Requester {
  request(path: string, init?: RequestInit): Response | Promise<Response>;
}
type LatchkeyApp = Requester;

export interface TokenPair {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  refresh_token_expires_in: number;
  session_id: string;
}

export interface CallOptions {
  method?: string;
  body?: unknown;
  /** Sent as-is, without JSON encoding. */
  rawBody?: string;
  token?: string;
  headers?: Record<string, string>;
}

export async function call(app: LatchkeyApp, path: string, options: CallOptions = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.body !== undefined) headers['content-type'] ??= 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const response = await app.request(path, {
    method: options.method ?? (options.body !== undefined || options.rawBody !== undefined ? 'POST' : 'GET'),
    headers,
    ...(options.rawBody !== undefined
      ? { body: options.rawBody }
      : options.body !== undefined
        ? { body: JSON.stringify(options.body) }
        : {}),
  });
  const text = await response.text();
  // biome-ignore lint/suspicious/noExplicitAny: test bodies are asserted field by field
  const json: any = text ? JSON.parse(text) : undefined;
  return { status: response.status, headers: response.headers, json };
}

export async function registerUser(app: LatchkeyApp, email = uniqueEmail(), password = PASSWORD) {
  const res = await call(app, '/v1/auth/register', { body: { email, password } });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.json)}`);
  return { email, password, id: res.json.user.id as string };
}

export async function login(
  app: LatchkeyApp,
  email: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<TokenPair> {
  const res = await call(app, '/v1/auth/login', { body: { email, password: PASSWORD, ...extra }, headers });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json;
}

export const refresh = (app: LatchkeyApp, refreshToken: string, extra: Record<string, unknown> = {}) =>
  call(app, '/v1/auth/refresh', { body: { refresh_token: refreshToken, ...extra } });

/** Decodes a JWT part without verifying it (tests verify separately). */
export const decodeJwtPart = (token: string, index: 0 | 1) =>
  JSON.parse(Buffer.from(token.split('.')[index]!, 'base64url').toString('utf8'));

/** A `fetch` that serves requests from the app in-process: for clients we did not write (oauth4webapi, the kit). */
export const appFetch =
  (app: { request(input: string | Request, init?: RequestInit): Response | Promise<Response> }) =>
  (input: string | URL | Request, init?: RequestInit): Promise<Response> =>
    Promise.resolve(app.request(input instanceof Request ? input : String(input), init));
