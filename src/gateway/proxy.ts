import { request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Request, Response } from "express";
import type { AuthorizedRequest } from "../decision/authorizer.js";
import { continueIfExpected } from "../http/server.js";
import { clientResponseHeaders, upstreamRequestHeaders, type Peer } from "./forwarded-headers.js";
import { skipBody } from "./request-body.js";

export interface UpstreamOptions {
  url: URL | null;
  /** Time to the upstream's response headers. */
  timeoutMs: number;
  /** Longest silence on an open connection (long streams keep going while data flows). */
  idleTimeoutMs: number;
  maxBodyBytes: number;
}

export interface ProxyOutcome {
  /** The upstream's status; null when it did not answer (Tollgate's own 413/502/504). */
  upstreamStatus: number | null;
}

/**
 * Streams one allowed request to the upstream and the answer back. The request target is sent
 * exactly as received (the policy judged that string); nothing is buffered.
 */
export function proxy(
  req: Request,
  res: Response,
  upstream: UpstreamOptions & { url: URL },
  authorized: AuthorizedRequest,
  peer: Peer,
): Promise<ProxyOutcome> {
  const { decision } = authorized;
  return new Promise((resolve) => {
    let settled = false;
    /** The upstream's status once its response headers arrived. */
    let answered: number | null = null;
    const finish = (outcome: ProxyOutcome): void => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    const fail = (status: 413 | 502 | 504, code: string, message: string): void => {
      upstreamReq.destroy();
      if (!res.headersSent) {
        res.status(status).json({ error: { code, message }, decision_id: decision.decision_id });
      } else {
        res.destroy();
      }
      finish({ upstreamStatus: answered });
    };

    const declared = Number(req.headers["content-length"] ?? 0);
    const base = upstream.url;
    const options: RequestOptions = {
      protocol: base.protocol,
      hostname: base.hostname,
      port: base.port,
      method: req.method,
      path: `${base.pathname.replace(/\/$/, "")}${req.originalUrl}`,
      headers: upstreamRequestHeaders(req.headers, authorized, peer, base.host),
    };
    const upstreamReq = (base.protocol === "https:" ? httpsRequest : httpRequest)(options);

    // The answer is timed from when the request body has been sent, so a slow upload is not a slow upstream.
    let headersTimer: NodeJS.Timeout | undefined;
    upstreamReq.on("finish", () => {
      if (answered === null && !settled) {
        headersTimer = setTimeout(() => fail(504, "upstream_timeout", `the upstream did not answer within ${upstream.timeoutMs} ms`), upstream.timeoutMs);
      }
    });
    upstreamReq.setTimeout(upstream.idleTimeoutMs, () => fail(504, "upstream_timeout", "the upstream went silent"));

    upstreamReq.on("response", (upstreamRes: IncomingMessage) => {
      clearTimeout(headersTimer);
      const status = upstreamRes.statusCode ?? 502;
      answered = status;
      // Headers Tollgate already set (rate limit, decision id) stay; the upstream's are added.
      const headers = clientResponseHeaders(upstreamRes.headers);
      for (const name of Object.keys(headers)) if (res.hasHeader(name)) delete headers[name];
      res.writeHead(status, headers);
      res.flushHeaders();
      upstreamRes.pipe(res);
      upstreamRes.on("error", () => res.destroy());
      upstreamRes.on("end", () => finish({ upstreamStatus: status }));
      upstreamRes.on("aborted", () => {
        res.destroy();
        finish({ upstreamStatus: status });
      });
    });
    upstreamReq.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(headersTimer);
      if (settled) return;
      if (res.headersSent) {
        res.destroy();
        finish({ upstreamStatus: res.statusCode });
        return;
      }
      fail(502, "upstream_unavailable", `the upstream could not be reached (${err.code ?? "connection error"})`);
    });

    // A client that goes away takes its upstream request with it.
    res.on("close", () => {
      clearTimeout(headersTimer);
      if (!res.writableFinished) upstreamReq.destroy();
      finish({ upstreamStatus: answered });
    });

    if (declared > upstream.maxBodyBytes) {
      clearTimeout(headersTimer);
      skipBody(req, res);
      return fail(413, "body_too_large", `the request body exceeds ${upstream.maxBodyBytes} bytes`);
    }
    continueIfExpected(res);
    let received = 0;
    req.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > upstream.maxBodyBytes) {
        clearTimeout(headersTimer);
        req.unpipe(upstreamReq);
        fail(413, "body_too_large", `the request body exceeds ${upstream.maxBodyBytes} bytes`);
      }
    });
    req.pipe(upstreamReq);
  });
}
