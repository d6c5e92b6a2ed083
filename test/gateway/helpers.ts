// Shared pieces of the gateway tests: Tollgate on a real loopback port, a controllable upstream
// that records every request it sees, a small node:http client and a raw-socket client.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { createHttpServer } from "../../src/http/server.js";
import type { Backends } from "../../src/server/backends.js";
import { buildWorld, type TollgateParts, type World } from "../http/fixture.js";

/** Listens on 127.0.0.1 and a free port; returns the base URL. */
export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

/** Closes a server and every connection it still holds (bounded). */
export async function stopServer(server: Server | undefined): Promise<void> {
  if (!server?.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await Promise.race([closed, sleep(2_000)]);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Polls until `check` holds or the deadline passes (then returns false); generous, for a loaded machine. */
export async function waitFor(check: () => boolean, timeoutMs = 60_000, stepMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(stepMs);
  }
  return check();
}

// ------------------------------------------------------------------------------ upstream

export interface UpstreamHit {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Raw header lines as received (names in their original spelling). */
  rawHeaders: string[];
  body: string;
  /** Raw trailer lines of a chunked body (empty when none). */
  rawTrailers: string[];
  /** The request body arrived complete (false: the request was cut off). */
  complete: boolean;
  /** The response was cut off before it finished (the client side went away). */
  aborted: boolean;
}

export interface Upstream {
  server: Server;
  url: string;
  /** Every request, in arrival order, recorded as soon as its headers arrive. */
  hits: UpstreamHit[];
  /** Lets the streaming endpoints write their next chunk. */
  release(): void;
  reset(): void;
  close(): Promise<void>;
}

/**
 * A node:http upstream whose behaviour is picked by the query parameter `mode` (any path), else
 * by the X-Upstream-Mode header (and `code` by X-Upstream-Code):
 *   (none)   echo: 200 JSON {method, url, headers, body}
 *   stream   chunked text: "chunk-1\n", then waits for release(), "chunk-2\n", waits, "chunk-3\n"
 *   sse      text/event-stream: "data: 1\n\n", waits for release(), "data: 2\n\n"
 *   hang     never answers
 *   slow     sends headers and "first\n", then waits for release() before ending
 *   drip     writes "drop-1\n" … "drop-<n>\n", one every <ms> milliseconds
 *   destroy  Content-Length 100, 10 bytes, then destroys the socket
 *   reset    destroys the socket before answering
 *   headers  answers with hop-by-hop headers and headers named like Tollgate's
 *   status   answers with the status in `code`
 *   challenge  the status in `code` with the upstream's own WWW-Authenticate and Set-Cookie
 */
export async function startUpstream(): Promise<Upstream> {
  const hits: UpstreamHit[] = [];
  let gate = deferred();
  const waitRelease = async (): Promise<void> => {
    await gate.promise;
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const hit: UpstreamHit = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, rawHeaders: req.rawHeaders, body: "", rawTrailers: [], complete: false, aborted: false };
    hits.push(hit);
    res.on("close", () => {
      if (!res.writableFinished) hit.aborted = true;
    });
    req.on("error", () => undefined);
    res.on("error", () => undefined);
    // Or, where no query string may go (a project's MCP endpoint), the X-Upstream-Mode header.
    const mode = new URL(req.url ?? "/", "http://upstream").searchParams.get("mode") ?? (req.headers["x-upstream-mode"] as string | undefined) ?? null;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    const bodyDone = new Promise<void>((resolve) =>
      req.on("end", () => {
        hit.body = Buffer.concat(chunks).toString("utf8");
        hit.rawTrailers = req.rawTrailers;
        hit.complete = true;
        resolve();
      }),
    );
    void (async () => {
      switch (mode) {
        case "hang":
          return;
        case "reset":
          req.socket.destroy();
          return;
        case "destroy":
          await bodyDone;
          res.writeHead(200, { "content-type": "text/plain", "content-length": "100" });
          res.write("0123456789");
          setTimeout(() => req.socket.destroy(), 20);
          return;
        case "stream":
          await bodyDone;
          res.writeHead(200, { "content-type": "text/plain" });
          res.write("chunk-1\n");
          await waitRelease();
          res.write("chunk-2\n");
          await waitRelease();
          res.end("chunk-3\n");
          return;
        case "sse":
          await bodyDone;
          res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
          res.write("data: 1\n\n");
          await waitRelease();
          res.end("data: 2\n\n");
          return;
        case "drip": {
          await bodyDone;
          const params = new URL(req.url ?? "/", "http://upstream").searchParams;
          res.writeHead(200, { "content-type": "text/plain" });
          for (let i = 1; i <= Number(params.get("n") ?? 5); i++) {
            if (res.destroyed) return;
            res.write(`drop-${i}\n`);
            await sleep(Number(params.get("ms") ?? 50));
          }
          res.end();
          return;
        }
        case "slow":
          await bodyDone;
          res.writeHead(200, { "content-type": "text/plain" });
          res.write("first\n");
          await waitRelease();
          res.end("last\n");
          return;
        case "headers":
          await bodyDone;
          res.writeHead(200, {
            "content-type": "text/plain",
            connection: "keep-alive, X-Resp-Hop",
            "x-resp-hop": "secret",
            "keep-alive": "timeout=5",
            "proxy-authenticate": "Basic",
            "x-resp-kept": "yes",
            "ratelimit-policy": '"upstream";q=99999;w=1',
            "x-tollgate-decision-id": "made-up-by-upstream",
          });
          res.end("ok");
          return;
        case "challenge": {
          // An OAuth-protected upstream's own challenge and cookie, with the status in `code`.
          await bodyDone;
          const code = Number(new URL(req.url ?? "/", "http://upstream").searchParams.get("code") ?? req.headers["x-upstream-code"] ?? 200);
          res.writeHead(code, { "content-type": "application/json", "www-authenticate": 'Bearer resource_metadata="https://upstream.example/.well-known/oauth-protected-resource"', "set-cookie": "upstream_session=s1; Path=/" });
          res.end(JSON.stringify({ jsonrpc: "2.0", id: 1, result: { upstream_status: code } }));
          return;
        }
        case "status": {
          await bodyDone;
          const code = Number(new URL(req.url ?? "/", "http://upstream").searchParams.get("code") ?? 200);
          res.writeHead(code, { "content-type": "application/json" });
          res.end(JSON.stringify({ upstream_status: code }));
          return;
        }
        default:
          await bodyDone;
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ method: hit.method, url: hit.url, headers: hit.headers, body: hit.body }));
      }
    })();
  });
  const url = await listen(server);
  return {
    server,
    url,
    hits,
    release() {
      const current = gate;
      gate = deferred();
      current.resolve();
    },
    reset() {
      hits.length = 0;
    },
    close: () => stopServer(server),
  };
}

// ------------------------------------------------------------------------------ tollgate

export interface Gateway {
  world: World;
  server: Server;
  url: string;
  port: number;
  close(): Promise<void>;
}

/** An in-memory world (see test/http/fixture.ts) served on a loopback port. */
export async function startGateway(env: Record<string, string>, backends?: Backends, parts: TollgateParts = {}): Promise<Gateway> {
  const world = await buildWorld(env, backends, parts);
  const server = createHttpServer(world.tollgate.app, world.tollgate.config);
  const url = await listen(server);
  return {
    world,
    server,
    url,
    port: portOf(server),
    async close() {
      await stopServer(server);
      await world.tollgate.close();
    },
  };
}

// ------------------------------------------------------------------------------ clients

export interface Sent {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  timeoutMs?: number;
}

/** One request on its own connection (no agent); rejects on a socket error or after timeoutMs. */
export function send(base: string, path: string, options: SendOptions = {}): Promise<Sent> {
  const url = new URL(base);
  const headers: Record<string, string | string[]> = { ...options.headers };
  // node:http frames a GET or DELETE body only when told its length.
  const named = new Set(Object.keys(headers).map((k) => k.toLowerCase()));
  if (options.body !== undefined && !named.has("content-length") && !named.has("transfer-encoding")) headers["content-length"] = String(Buffer.byteLength(options.body));
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method: options.method ?? "GET", path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("aborted", () => reject(new Error("response aborted")));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
      });
    });
    req.setTimeout(options.timeoutMs ?? 60_000, () => req.destroy(new Error(`no answer within ${options.timeoutMs ?? 60_000} ms`)));
    req.on("error", reject);
    req.end(options.body);
  });
}

export interface RawResult {
  /** Everything the server sent before it closed the connection or the wait ended. */
  text: string;
  /** Status codes of every response in `text`, in order. */
  statuses: number[];
  closedByServer: boolean;
}

/**
 * Writes `raw` bytes to a fresh connection and collects the answer until the server closes the
 * connection, `expectResponses` responses have been seen, or waitMs passes.
 */
export function rawRequest(port: number, raw: string | Buffer, options: { waitMs?: number; expectResponses?: number; headOnly?: boolean } = {}): Promise<RawResult> {
  const waitMs = options.waitMs ?? 30_000;
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    let done = false;
    const finish = (closedByServer: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
      resolve({ text, statuses, closedByServer });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on("connect", () => socket.write(raw));
    socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      if (options.expectResponses !== undefined && completeResponses(text, options.headOnly ?? false) >= options.expectResponses) finish(false);
    });
    socket.on("end", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("error", () => finish(true));
  });
}

/** Responses in `text` whose body (Content-Length or chunked) has fully arrived (headOnly: answers to HEAD, no body). */
function completeResponses(text: string, headOnly: boolean): number {
  let count = 0;
  let rest = text;
  for (;;) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) return count;
    const head = rest.slice(0, end);
    let body = rest.slice(end + 4);
    if (headOnly) {
      count++;
      rest = body;
      continue;
    }
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (length) {
      const n = Number(length[1]);
      if (body.length < n) return count;
      body = body.slice(n);
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      const last = body.indexOf("0\r\n\r\n");
      if (last < 0) return count;
      body = body.slice(last + 5);
    }
    count++;
    rest = body;
  }
}
