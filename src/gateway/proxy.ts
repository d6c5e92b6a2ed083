import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions, type ServerResponse } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { writeError } from "../api/error-writer.js";
import { ERRORS, RequestError, isUnavailable, type ErrorCode } from "../errors.js";
import type { AnswerRewriter } from "../mcp/tools-list-filter.js";
import type { Verdict } from "../decision/service.js";
import { continueIfExpected } from "../http/server.js";
import { endUpstreamSpan, startUpstreamSpan, withTraceContext } from "../tracing.js";
import { clientResponseHeaders, upstreamRequestHeaders, type Peer } from "./forwarded-headers.js";
import { declaredLength, hasBody, skipBody } from "./request-body.js";

/** How the gateway talks to every upstream (TOLLGATE_UPSTREAM_*). */
export interface UpstreamOptions {
  /** Time to the upstream's response headers. */
  timeoutMs: number;
  /** Longest silence on an open connection (long streams keep going while data flows). */
  idleTimeoutMs: number;
  maxBodyBytes: number;
}

export interface ProxyOutcome {
  /** The upstream's status; null when it did not answer (Tollgate's own 413/502/504). */
  upstreamStatus: number | null;
  /**
   * An `oauth` upstream answered 401 to the user's token: nothing of its answer was sent and the
   * client is not answered yet (the caller answers "not connected").
   */
  tokenRejected?: true;
}

/**
 * Streams one allowed request to the upstream and the answer back. `target` is the request
 * target exactly as received (the policy judged that string); nothing is buffered, except a
 * `body` already read and judged (an MCP message), which is sent as it is. With `rewrite` (a
 * project's MCP endpoint), the upstream is asked for its whole answer uncompressed
 * (Accept-Encoding: identity, no Range) and the answer is passed on as rewrite chooses from its
 * head: as it is, through a Transform (chunked), held whole and sent with its own length, or
 * refused. `upstreamToken`: the user's bearer token at an `oauth` upstream, sent as its
 * Authorization; such an upstream's 401 is not passed on (ProxyOutcome.tokenRejected), nor are its
 * WWW-Authenticate and Set-Cookie.
 */
export type Forward = (
  req: IncomingMessage,
  res: ServerResponse,
  target: string,
  verdict: Verdict,
  peer: Peer,
  body?: Buffer,
  beforeAnswer?: BeforeAnswer,
  rewrite?: AnswerRewriter,
  upstreamToken?: string,
) => Promise<ProxyOutcome>;

/**
 * Runs once the upstream's response head has arrived, before the client sees any of it (the MCP
 * endpoint records the session the upstream opened or ended). If it fails (a store that could not
 * be written), the client is answered 503 backend_unavailable instead of the upstream's answer.
 */
export type BeforeAnswer = (upstreamRes: IncomingMessage) => Promise<void>;

/**
 * A pooled connection left idle this long is closed, before the keep-alive timeout of most
 * servers (Node's is 5 s; an upstream's `Keep-Alive: timeout=N` hint shortens it to N − 1 s).
 */
const POOL_IDLE_MS = 4_000;

// RFC 9110 §9.2.2: repeating one of these has the effect of sending it once.
const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

// How a pooled connection the upstream closed (idle timeout racing the next request) shows up.
const STALE_CONNECTION_ERRORS = new Set(["ECONNRESET", "EPIPE"]);

/**
 * The gateway's way to one upstream: a keep-alive connection pool created once, reused
 * across requests (most recently used connection first, so few sit idle long enough to go stale).
 * The number of connections is not capped: a capped pool would queue every request behind
 * long-lived streams (SSE).
 */
export function upstreamProxy(url: URL, upstream: UpstreamOptions): Forward {
  const { timeoutMs, idleTimeoutMs, maxBodyBytes } = upstream;
  const https = url.protocol === "https:";
  const pool = new (https ? HttpsAgent : HttpAgent)({ keepAlive: true, scheduling: "lifo", timeout: POOL_IDLE_MS });
  const send = https ? httpsRequest : httpRequest;
  const pathPrefix = url.pathname.replace(/\/$/, "");

  return (req, res, target, verdict, peer, body, beforeAnswer, rewrite, upstreamToken) =>
    new Promise((resolve) => {
      const decisionId = verdict.decision.decision_id;
      const span = startUpstreamSpan(req.method ?? "GET");
      const method = req.method ?? "GET";
      let settled = false;
      /** The upstream's status once its response headers arrived. */
      let answered: number | null = null;
      let upstreamReq: ClientRequest | undefined;
      let headersTimer: NodeJS.Timeout | undefined;
      const finish = (outcome: ProxyOutcome): void => {
        if (settled) return;
        settled = true;
        endUpstreamSpan(span, outcome.upstreamStatus);
        resolve(outcome);
      };
      const fail = (code: ErrorCode, message: string): void => {
        clearTimeout(headersTimer);
        upstreamReq?.destroy();
        // Handed back (tokenRejected) or over: the client's answer is someone else's now.
        if (settled) return;
        if (!res.headersSent) writeError(res, { code, message, decisionId });
        else res.destroy();
        finish({ upstreamStatus: answered });
      };

      // A client that goes away takes its upstream request with it.
      res.on("close", () => {
        clearTimeout(headersTimer);
        if (!res.writableFinished) upstreamReq?.destroy();
        finish({ upstreamStatus: answered });
      });

      if (body === undefined && declaredLength(req) > maxBodyBytes) {
        skipBody(req, res);
        return fail("body_too_large", `the request body exceeds ${maxBodyBytes} bytes`);
      }
      const withBody = body !== undefined || hasBody(req);
      const options: RequestOptions = {
        hostname: url.hostname,
        port: url.port,
        method,
        path: `${pathPrefix}${target}`,
        headers: withTraceContext(upstreamHeaders(rewrite !== undefined, upstreamRequestHeaders(method, req.headers, verdict.identity, peer, url.host, upstreamToken)), span),
      };

      const onResponse = (upstreamRes: IncomingMessage): void => {
        clearTimeout(headersTimer);
        const status = upstreamRes.statusCode ?? 502;
        answered = status;
        if (upstreamToken !== undefined && status === 401 && !res.headersSent) {
          // Decided from the status line alone: none of this answer reaches the client.
          req.unpipe();
          upstreamRes.destroy();
          upstreamReq?.destroy();
          settled = true;
          endUpstreamSpan(span, status);
          resolve({ upstreamStatus: status, tokenRejected: true });
          return;
        }
        if (!beforeAnswer) return answer(upstreamRes, status);
        beforeAnswer(upstreamRes).then(
          () => (settled ? upstreamRes.destroy() : answer(upstreamRes, status)),
          () => {
            upstreamRes.destroy();
            fail("backend_unavailable", ERRORS.backend_unavailable.message);
          },
        );
      };

      const answer = (upstreamRes: IncomingMessage, status: number): void => {
        const reading = rewrite?.({ contentTypes: fieldValues(upstreamRes.rawHeaders, "content-type"), contentEncoding: upstreamRes.headers["content-encoding"] }) ?? null;
        if (reading instanceof RequestError) {
          upstreamRes.resume();
          fail(reading.code, reading.message);
          return;
        }
        // Headers Tollgate already set (rate limit, decision id) stay; the upstream's are added.
        const headers = clientResponseHeaders(upstreamRes.headers, upstreamToken !== undefined);
        for (const name of Object.keys(headers)) if (res.hasHeader(name)) delete headers[name];
        if (reading !== null && "whole" in reading) {
          // Held whole and read: it leaves with its own length, or is refused before any of it.
          reading.whole(upstreamRes).then(
            (body) => {
              if (settled) return;
              if (status !== 204 && status !== 304) headers["content-length"] = String(body.length);
              res.writeHead(status, headers);
              res.end(body);
              finish({ upstreamStatus: status });
            },
            (err: unknown) => {
              upstreamRes.destroy();
              if (err instanceof RequestError) fail(err.code, err.message);
              else if (isUnavailable(err)) fail("backend_unavailable", ERRORS.backend_unavailable.message);
              else fail("upstream_unavailable", "the upstream's answer broke off");
            },
          );
          return;
        }
        const through = reading?.stream ?? null;
        // A rewritten answer's length is known only at its end: it goes out chunked.
        if (through) delete headers["content-length"];
        // The head, a body that arrives with it and the end leave in one write: the client's
        // socket stays corked until this turn of the event loop is over (res.end() uncorks it).
        const socket = res.socket;
        socket?.cork();
        setImmediate(() => {
          if (!res.writableEnded) socket?.uncork();
        });
        res.writeHead(status, headers);
        // A stream of unknown length (SSE, chunked) shows its head before its first chunk.
        if (headers["content-length"] === undefined) res.flushHeaders();
        if (through) {
          // A rewrite that fails (a lookup that cannot answer, an event it cannot read or hold) cuts the answer off.
          through.on("error", () => {
            upstreamRes.destroy();
            res.destroy();
          });
          upstreamRes.pipe(through).pipe(res);
        } else upstreamRes.pipe(res);
        upstreamRes.on("error", () => res.destroy());
        upstreamRes.on("end", () => finish({ upstreamStatus: status }));
        upstreamRes.on("aborted", () => {
          res.destroy();
          finish({ upstreamStatus: status });
        });
      };

      /**
       * Sends the request; `retry` on a connection of its own. A bodiless idempotent request whose
       * pooled connection turned out closed is retried once; a request with a body never is (it is
       * not kept, and the upstream may have acted on it).
       */
      const attempt = (retry: boolean): ClientRequest => {
        const out = send(retry ? { ...options, agent: false } : { ...options, agent: pool });
        // The answer is timed from when the request body has been sent, so a slow upload is not a slow upstream.
        out.on("finish", () => {
          if (answered === null && !settled) {
            clearTimeout(headersTimer);
            headersTimer = setTimeout(() => fail("upstream_timeout", `the upstream did not answer within ${timeoutMs} ms`), timeoutMs);
          }
        });
        out.setTimeout(idleTimeoutMs, () => fail("upstream_timeout", "the upstream went silent"));
        out.on("response", onResponse);
        out.on("error", (err: NodeJS.ErrnoException) => {
          clearTimeout(headersTimer);
          if (settled) return;
          if (!retry && !withBody && out.reusedSocket && answered === null && IDEMPOTENT_METHODS.has(method) && STALE_CONNECTION_ERRORS.has(err.code ?? "")) {
            upstreamReq = attempt(true);
            upstreamReq.end();
            return;
          }
          if (res.headersSent) {
            res.destroy();
            finish({ upstreamStatus: res.statusCode });
            return;
          }
          fail("upstream_unavailable", `the upstream could not be reached (${err.code ?? "connection error"})`);
        });
        return out;
      };
      upstreamReq = attempt(false);

      // A body already read and judged (an MCP message) is sent as it is.
      if (body !== undefined) {
        upstreamReq.end(body);
        return;
      }
      continueIfExpected(res);
      if (!withBody) {
        upstreamReq.end();
        return;
      }
      let received = 0;
      const sending = upstreamReq;
      req.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received > maxBodyBytes) {
          req.unpipe(sending);
          fail("body_too_large", `the request body exceeds ${maxBodyBytes} bytes`);
        }
      });
      req.pipe(sending);
    });
}

/**
 * Request headers that make an answer something else than the whole answer, uncompressed: a
 * compressed one cannot be read, and a range of one (a 206 with a slice of a tools/list answer)
 * cannot be read as a message while the client can piece the slices together.
 */
const UNREADABLE_ANSWER_HEADERS: ReadonlySet<string> = new Set(["accept-encoding", "range", "if-range"]);

/** With a rewrite, the request headers for an answer to be read: whole (no Range) and uncompressed (Accept-Encoding: identity). */
function upstreamHeaders(rewrite: boolean, headers: string[]): string[] {
  if (!rewrite) return headers;
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (!UNREADABLE_ANSWER_HEADERS.has(headers[i]!.toLowerCase())) out.push(headers[i]!, headers[i + 1]!);
  out.push("accept-encoding", "identity");
  return out;
}

/** Every value of the field `name` (lower case), from a message's raw header lines, in order. */
function fieldValues(rawHeaders: string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) values.push(rawHeaders[i + 1]!);
  return values;
}
