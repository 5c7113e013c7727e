import { lookup as dnsLookup } from 'node:dns/promises';
import {
  type ClientRequest,
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import { checkWebhookUrl, isPublicAddress } from '../../domain/webhook-url.js';
import type { WebhookRequest, WebhookResult, WebhookSender } from '../../ports/webhooks.js';
import { answered, boundedTimeout, DEFAULT_MAX_RESPONSE_BYTES, elapsedSince, unanswered } from './result.js';

/** One resolved address, as dns.lookup({ all: true }) gives them. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a name to all its addresses; dns.lookup by default (the system resolver, /etc/hosts included). */
export type WebhookLookup = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemLookup: WebhookLookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

type LookupFunction = NonNullable<RequestOptions['lookup']>;
type CodedError = Error & { code?: string };

/** The error a refused address fails the connection with; its message is the sender's `error`. */
export class AddressNotAllowedError extends Error {
  readonly code = 'ERR_WEBHOOK_ADDRESS_NOT_ALLOWED';
}

/**
 * Resolves a host and checks every address it has; for the admin API to refuse at registration
 * a name that resolves inside (issue #18, Done means). Only a hint: the name may resolve
 * elsewhere later, so the sender checks again at every connection.
 */
export async function checkWebhookHost(
  hostname: string,
  options: { allowPrivate: boolean; lookup?: WebhookLookup },
): Promise<{ ok: true; addresses: string[] } | { ok: false; reason: string }> {
  try {
    const addresses = await resolveAllowed(hostname, options.lookup ?? systemLookup, options.allowPrivate);
    return { ok: true, addresses: addresses.map((a) => a.address) };
  } catch (error) {
    return { ok: false, reason: describeError(error) };
  }
}

/** Every address of the name, or AddressNotAllowedError when ANY of them is not public. */
async function resolveAllowed(
  hostname: string,
  lookup: WebhookLookup,
  allowPrivate: boolean,
): Promise<ResolvedAddress[]> {
  const addresses = await lookup(hostname);
  if (addresses.length === 0)
    throw Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' });
  if (!allowPrivate) {
    // ANY, not the first: with several answers the socket may try each (autoSelectFamily,
    // RFC 8305), and a rebinding server would put the inside address second.
    const refused = addresses.find((a) => !isPublicAddress(a.address));
    if (refused)
      throw new AddressNotAllowedError(`address not allowed: ${refused.address} (${hostname.slice(0, 100)})`);
  }
  return addresses;
}

/**
 * The `lookup` the socket connects through: the addresses it is handed are the ones checked,
 * so a name that resolves to a public address when registered and to 127.0.0.1 when sent
 * (DNS rebinding) is refused at the connection (OWASP SSRF Prevention Cheat Sheet, "DNS
 * pinning"). Node calls it with `all: true` when it may try several addresses
 * (autoSelectFamily) and expects one address otherwise.
 */
function checkedLookup(lookup: WebhookLookup, allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    resolveAllowed(hostname, lookup, allowPrivate).then(
      (addresses) => {
        const family = options.family === 4 || options.family === 6 ? options.family : 0;
        const usable = family === 0 ? addresses : addresses.filter((a) => a.family === family);
        const first = usable[0];
        if (!first) {
          callback(
            Object.assign(new Error(`no IPv${family} address for ${hostname}`), { code: 'ENOTFOUND' }),
            '',
          );
        } else if (options.all) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      (error: CodedError) => callback(error, ''),
    );
  };
}

/** Errors say what happened in a few words; Node's messages name the address and port, never a header's value. */
function describeError(error: unknown): string {
  const e = error as CodedError | undefined;
  if (e instanceof AddressNotAllowedError) return e.message;
  switch (e?.code) {
    case 'ENOTFOUND':
      return `DNS: ${e.message.includes('no ') ? e.message : 'name not found'}`;
    case 'EAI_AGAIN':
      return 'DNS: temporary failure';
    case 'ERR_INVALID_CHAR':
    case 'ERR_HTTP_INVALID_HEADER_VALUE':
    case 'ERR_INVALID_HTTP_TOKEN':
      // Their messages quote the header's value: the signature, for one.
      return 'invalid request header';
    default:
      return e?.message ? e.message : String(error);
  }
}

/**
 * Webhooks on Node (issue #18) through node:http and node:https: each request on a fresh
 * connection (no pooled socket to an address checked long ago), to addresses that pass
 * `isPublicAddress` at connect time unless `allowPrivate`, with TLS verified against the
 * name in the URL. No redirects are followed. One timer covers the whole request (DNS,
 * connect, TLS, the answer's status line and headers); the answer's body is read up to
 * `maxResponseBytes` and then the connection is dropped. The answer counts once its status
 * has arrived: a body still trickling in when the time is up does not undo a 2xx.
 */
export function createNodeWebhookSender(options: {
  allowPrivate: boolean;
  maxResponseBytes?: number;
  userAgent: string;
  /** The resolver; tests inject one. dns.lookup by default. */
  lookup?: WebhookLookup;
}): WebhookSender {
  const maxResponseBytes = Math.max(0, options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES);
  const lookup = checkedLookup(options.lookup ?? systemLookup, options.allowPrivate);

  return {
    send(request: WebhookRequest): Promise<WebhookResult> {
      const started = performance.now();
      // Registration checked the URL already; checked again here because an IP literal never
      // reaches `lookup` (Node connects to it directly), and for endpoints stored before a policy change.
      const checked = checkWebhookUrl(request.url, {
        requireHttps: false,
        allowPrivate: options.allowPrivate,
      });
      if (!checked.ok) return Promise.resolve(unanswered(checked.reason, request, elapsedSince(started)));
      const url = checked.url;
      const timeoutMs = boundedTimeout(request.timeoutMs);

      return new Promise<WebhookResult>((resolve) => {
        let status: number | null = null;
        let settled = false;
        let outgoing: ClientRequest | undefined;
        let answer: IncomingMessage | undefined;

        const finish = (error?: string) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          answer?.destroy();
          outgoing?.destroy();
          const latencyMs = elapsedSince(started);
          resolve(
            status !== null
              ? answered(status, latencyMs)
              : unanswered(error ?? 'no answer', request, latencyMs),
          );
        };
        const timer = setTimeout(() => finish(`timeout after ${timeoutMs} ms`), timeoutMs);

        try {
          const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
          outgoing = send(url, {
            method: 'POST',
            headers: {
              'user-agent': options.userAgent,
              ...request.headers,
              'content-length': String(new TextEncoder().encode(request.body).byteLength),
            },
            agent: false,
            lookup,
          });
        } catch (error) {
          // A header Node refuses is thrown here, before any connection.
          finish(describeError(error));
          return;
        }
        outgoing.on('error', (error) => finish(describeError(error)));
        outgoing.on('response', (response) => {
          answer = response;
          status = response.statusCode ?? null;
          let read = 0;
          response.on('data', (chunk: Uint8Array) => {
            read += chunk.byteLength;
            if (read >= maxResponseBytes) finish();
          });
          response.on('end', () => finish());
          response.on('error', () => finish());
          response.on('close', () => finish());
        });
        outgoing.end(request.body);
      });
    },
  };
}
