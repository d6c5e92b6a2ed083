// An https GET of a URL a client chose (its Client ID Metadata Document), guarded against
// server-side request forgery: https only, every hop included; each host resolved once, every
// address it resolves to checked (address-guard.ts) and the first one pinned for the connection,
// so a DNS answer that changes between the check and the connect (rebinding) cannot redirect it;
// every redirect resolved and checked again; at most 3 redirects; 5 s for the whole fetch; the
// body capped at 5 KiB, counted on the bytes received.
import { lookup as dnsLookup } from "node:dns/promises";
import type { IncomingHttpHeaders } from "node:http";
import { request, type RequestOptions } from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { rootCertificates } from "node:tls";
import { refusedAddress } from "./address-guard.js";

export const FETCH_TIMEOUT_MS = 5_000;
export const FETCH_MAX_BYTES = 5 * 1024;
export const FETCH_MAX_REDIRECTS = 3;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Every address a host name resolves to. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export interface GuardedFetchOptions {
  /** TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS: loopback addresses pass the guard (development and tests only). */
  allowLoopback?: boolean;
  /** Default: the system resolver (getaddrinfo). Tests answer for themselves. */
  resolve?: Resolver;
  /** Certificates trusted besides the system's (tests: their throwaway CA). */
  extraCa?: string;
  timeoutMs?: number;
  maxBytes?: number;
  maxRedirects?: number;
}

export type GuardedFetchErrorCode = "not_https" | "address_refused" | "unresolvable" | "too_many_redirects" | "timeout" | "too_large" | "bad_status" | "unreachable";

/**
 * Why a guarded fetch gave up; `message` is safe to show the client: it names no address Tollgate
 * resolved, and a host that does not resolve reads the same as one on a refused address, so the
 * answers cannot map Tollgate's internal DNS. `detail` (which of the two, and why) is for a debug log only.
 */
export class GuardedFetchError extends Error {
  constructor(
    readonly code: GuardedFetchErrorCode,
    message: string,
    readonly detail?: string,
  ) {
    super(message);
    this.name = "GuardedFetchError";
  }
}

export interface FetchedResponse {
  /** The URL the body came from (after redirects). */
  url: URL;
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** GETs `url` (https) under the guard, following redirects: the first answer that is not a redirect, or the error that stopped it. */
export async function guardedFetch(url: string, options: GuardedFetchOptions = {}): Promise<FetchedResponse> {
  const timeoutMs = options.timeoutMs ?? FETCH_TIMEOUT_MS;
  const maxRedirects = options.maxRedirects ?? FETCH_MAX_REDIRECTS;
  const signal = AbortSignal.timeout(timeoutMs);
  let current = httpsUrl(url, "the URL");
  for (let redirects = 0; ; redirects++) {
    const answer = await getOnce(current, options, signal);
    if (!REDIRECTS.has(answer.status)) return answer;
    if (redirects === maxRedirects) throw new GuardedFetchError("too_many_redirects", `more than ${maxRedirects} redirects`);
    const location = answer.headers.location;
    if (!location) throw new GuardedFetchError("bad_status", `a ${answer.status} redirect without a Location`);
    current = httpsUrl(location, "a redirect", current);
  }
}

function httpsUrl(raw: string, what: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    throw new GuardedFetchError("not_https", `${what} is not a valid URL`);
  }
  if (url.protocol !== "https:") throw new GuardedFetchError("not_https", `${what} is not https`);
  return url;
}

/** The host's addresses, each checked; the first is the one connected to. */
async function pinnedAddress(hostname: string, options: GuardedFetchOptions): Promise<ResolvedAddress> {
  let addresses: ResolvedAddress[];
  try {
    addresses = await (options.resolve ?? systemResolver)(hostname);
  } catch {
    throw notPublic("unresolvable", hostname, "it cannot be resolved");
  }
  if (addresses.length === 0) throw notPublic("unresolvable", hostname, "it resolves to no address");
  for (const { address } of addresses) {
    const reason = refusedAddress(address, options);
    if (reason !== null) throw notPublic("address_refused", hostname, `it resolves to a refused address (${reason})`);
  }
  return addresses[0]!;
}

function getOnce(url: URL, options: GuardedFetchOptions, signal: AbortSignal): Promise<FetchedResponse> {
  const maxBytes = options.maxBytes ?? FETCH_MAX_BYTES;
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  return new Promise((resolve, reject) => {
    // The first reason to give up wins (a refusal in the lookup, the size cap, the deadline);
    // the socket's own error after we destroyed it says less.
    let settled = false;
    const fail = (err: GuardedFetchError): void => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(err);
    };
    if (signal.aborted) return reject(new GuardedFetchError("timeout", "the document was not fetched in time"));
    // An IP literal is never looked up (net.connect skips `lookup`): it is checked here.
    const literalRefused = isIP(host) ? refusedAddress(host, options) : null;
    if (literalRefused !== null) return reject(notPublic("address_refused", url.hostname, `a refused address (${literalRefused})`));
    const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
      pinnedAddress(hostname, options).then(
        (pinned) => (lookupOptions.all ? callback(null, [pinned]) : callback(null, pinned.address, pinned.family)),
        (err: GuardedFetchError) => {
          fail(err);
          callback(err, "", 0);
        },
      );
    };
    const requestOptions: RequestOptions = {
      protocol: "https:",
      hostname: host,
      port: url.port || 443,
      path: url.pathname + url.search,
      method: "GET",
      headers: { accept: "application/json", "user-agent": "Tollgate" },
      agent: false, // one connection per request: nothing pinned is reused for another host
      lookup,
      ...(options.extraCa ? { ca: [...rootCertificates, options.extraCa] } : {}),
    };
    const req = request(requestOptions, (res) => {
      // First: destroying the request below makes the response emit an error, which must have a listener.
      res.on("error", () => fail(signal.aborted ? timeout() : new GuardedFetchError("unreachable", `the connection to ${url.hostname} failed`)));
      const status = res.statusCode ?? 0;
      if (REDIRECTS.has(status)) {
        res.resume();
        settled = true;
        resolve({ url, status, headers: res.headers, body: Buffer.alloc(0) });
        req.destroy();
        return;
      }
      const declared = Number(res.headers["content-length"]);
      if (Number.isFinite(declared) && declared > maxBytes) return fail(new GuardedFetchError("too_large", `the document is larger than ${maxBytes} bytes`));
      const chunks: Buffer[] = [];
      let received = 0;
      res.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received > maxBytes) return fail(new GuardedFetchError("too_large", `the document is larger than ${maxBytes} bytes`));
        chunks.push(chunk);
      });
      res.on("end", () => {
        if (settled) return;
        settled = true;
        resolve({ url, status, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });
    const onAbort = (): void => fail(timeout());
    signal.addEventListener("abort", onAbort, { once: true });
    req.on("close", () => signal.removeEventListener("abort", onAbort));
    req.on("error", () => fail(signal.aborted ? timeout() : new GuardedFetchError("unreachable", `${url.hostname} could not be reached over https`)));
    req.end();
  });
}

/** A host Tollgate will not connect to: one message for the client whether it does not resolve or resolves to a refused address. */
function notPublic(code: "unresolvable" | "address_refused", hostname: string, detail: string): GuardedFetchError {
  return new GuardedFetchError(code, `the host ${hostname} is not reachable on a public address`, `${hostname}: ${detail}`);
}

function timeout(): GuardedFetchError {
  return new GuardedFetchError("timeout", "the document was not fetched in time");
}
