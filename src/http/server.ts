import { createServer, type RequestListener, type Server, type ServerResponse } from "node:http";

export interface HttpServerOptions {
  /** TOLLGATE_MAX_HEADER_FIELDS: requestLimits() answers 431 past it. */
  maxHeaderFields: number;
}

/** Responses whose client sent `Expect: 100-continue` and has not been told to go on yet. */
const awaitingContinue = new WeakSet<ServerResponse>();

/** Every Tollgate listener is created here, so each one gets the same limits and Expect handling. */
export function createHttpServer(app: RequestListener, options: HttpServerOptions): Server {
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
