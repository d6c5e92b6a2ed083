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

/** Each server's responses not yet finished, and the servers that are draining. */
const open = new WeakMap<Server, Set<ServerResponse>>();
const draining = new WeakSet<Server>();

/**
 * Marks a response `Connection: close` while its server drains, so the client learns before its
 * next request that this connection ends (closing an idle keep-alive connection instead races a
 * request the client is sending: a reset).
 */
function closesWhenDraining(server: Server, app: RequestListener): RequestListener {
  const responses = new Set<ServerResponse>();
  open.set(server, responses);
  return (req, res) => {
    if (draining.has(server)) res.setHeader("connection", "close");
    responses.add(res);
    res.once("close", () => responses.delete(res));
    app(req, res);
  };
}

/**
 * Shutdown begins: every response not yet begun, including those of requests in flight, says
 * `Connection: close`. The server still accepts connections until closeGracefully().
 */
export function startDraining(server: Server): void {
  draining.add(server);
  for (const res of open.get(server) ?? []) if (!res.headersSent) res.setHeader("connection", "close");
}

/**
 * Stops accepting connections and resolves once every open one has ended: requests in flight
 * finish (their connection closes after the response), idle keep-alive connections are closed.
 * Idle ones are closed again until the end, for connections whose last response began before
 * startDraining() and so did not say `Connection: close`.
 */
export async function closeGracefully(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), 100);
  try {
    await closed;
  } finally {
    clearInterval(sweep);
  }
}

/** Every Tollgate listener is created here, so each one gets the same limits and Expect handling. */
export function createHttpServer(listener: RequestListener, options: HttpServerOptions): Server {
  const server = createServer();
  const app = oneAtATime(closesWhenDraining(server, listener));
  server.on("request", app);
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
