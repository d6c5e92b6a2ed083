import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

export interface HttpServerOptions {
  /** TOLLGATE_MAX_HEADER_FIELDS: requestLimits() answers 431 past it. */
  maxHeaderFields: number;
}

/** Responses whose client sent `Expect: 100-continue` and has not been told to go on yet. */
const awaitingContinue = new WeakSet<ServerResponse>();

/**
 * Whether the connection stays open after this response: Node closes it after a response with
 * `Connection: close` (e.g. a denial that leaves its body unread) or to a client that did not
 * ask to keep it alive.
 */
function keepsAlive(res: ServerResponse): boolean {
  return res.shouldKeepAlive && !/\bclose\b/i.test(String(res.getHeader("connection") ?? ""));
}

/**
 * Handles pipelined requests one after the other. Node emits every request it has parsed at
 * once; a request queued behind an answer that closes the connection is never processed (RFC
 * 9112 §9.6): its answer could not be sent, yet it would have been decided and forwarded.
 */
function oneAtATime(app: RequestListener): RequestListener {
  const previous = new WeakMap<Socket, Promise<boolean>>();
  return (req: IncomingMessage, res: ServerResponse) => {
    const before = previous.get(req.socket);
    previous.set(req.socket, new Promise((resolve) => res.once("close", () => resolve(res.writableFinished && keepsAlive(res)))));
    if (!before) return app(req, res);
    void before.then((open) => (open ? app(req, res) : undefined));
  };
}

/** Every Tollgate listener is created here, so each one gets the same limits and Expect handling. */
export function createHttpServer(listener: RequestListener, options: HttpServerOptions): Server {
  const app = oneAtATime(listener);
  const server = createServer(app);
  // Node stops collecting fields at maxHeadersCount: one past the limit shows a list is too long.
  server.maxHeadersCount = options.maxHeaderFields + 1;
  // Longer than the 60 s idle timeout common in load balancers, so they close idle connections first.
  server.keepAliveTimeout = 65_000;
  // Node answers `Expect: 100-continue` before any handler runs. With this listener the request
  // reaches the app like any other, and 100 Continue goes out only when Tollgate means to read
  // the body (continueIfExpected): for the gateway, after the decision allowed the request.
  server.on("checkContinue", (req, res: ServerResponse) => {
    awaitingContinue.add(res);
    app(req, res);
  });
  return server;
}

/** Tells a client that holds its body back to send it; call once Tollgate will read the body. */
export function continueIfExpected(res: ServerResponse): void {
  if (awaitingContinue.delete(res)) res.writeContinue();
}
