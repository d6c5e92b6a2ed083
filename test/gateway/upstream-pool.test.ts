// The gateway's connections: pooled upstream connections reused across requests, an upstream that
// closes one (by announcing it, or by dropping it as a request arrives), and how few socket writes
// carry an answer back to the client.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { bearer } from "../http/fixture.js";
import { deferred, listen, send, startGateway, stopServer, type Gateway } from "./helpers.js";

interface Seen {
  method: string;
  url: string;
  /** 1 for the upstream's first connection, 2 for the next one... */
  connection: number;
  /** The request was the first one on its connection. */
  first: boolean;
  body: string;
  complete: boolean;
}

/**
 * An upstream that numbers its connections and answers by path:
 *   /…/builds?case=close       200 with Connection: close
 *   /…/builds?case=reset       drops the connection without answering, every time
 *   /…/builds?case=head-only   sends its head (no length), then waits until `release` resolves
 *   anything else              200 "ok" (Content-Length), after reading the body
 * With `dropReused`, it drops any connection on which a second request arrives, as a server does
 * whose keep-alive timeout ran out just as the request came.
 */
async function numberingUpstream(dropReused: boolean) {
  const seen: Seen[] = [];
  const release = deferred();
  let connections = 0;
  const served = new WeakMap<Socket, number>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const count = served.get(req.socket)!;
    served.set(req.socket, count + 1);
    const hit: Seen = { method: req.method ?? "", url: req.url ?? "", connection: (req.socket as Socket & { n: number }).n, first: count === 0, body: "", complete: false };
    seen.push(hit);
    const kase = new URL(hit.url, "http://upstream").searchParams.get("case");
    if ((dropReused && count > 0) || kase === "reset") {
      req.socket.destroy();
      return;
    }
    req.on("data", (c: Buffer) => (hit.body += c.toString()));
    req.on("end", () => {
      hit.complete = true;
      if (kase === "head-only") {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.flushHeaders();
        void release.promise.then(() => res.end("data: late\n\n"));
        return;
      }
      res.writeHead(200, { "content-type": "text/plain", "content-length": "2", ...(kase === "close" ? { connection: "close" } : {}) }).end("ok");
    });
  });
  server.on("connection", (socket: Socket & { n: number }) => {
    socket.n = ++connections;
    served.set(socket, 0);
  });
  const url = await listen(server);
  return { server, url, seen, release: () => release.resolve(), connections: () => connections };
}

const BUILDS = "/api/v1/projects/priv/builds";
let upstream: Awaited<ReturnType<typeof numberingUpstream>>;
let gw: Gateway;
const get = (path = BUILDS) => send(gw.url, path, { headers: { authorization: bearer(gw.world.tokens.bobGlobal) } });
const post = (body: string) =>
  send(gw.url, "/api/v1/projects/priv/upload", { method: "POST", headers: { authorization: bearer(gw.world.tokens.bobGlobal), "content-type": "text/plain" }, body });

async function start(dropReused: boolean): Promise<void> {
  upstream = await numberingUpstream(dropReused);
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url });
}

afterEach(async () => {
  await gw?.close();
  await stopServer(upstream?.server);
});

describe("the upstream connection pool", () => {
  it("sequential requests, with and without a body, share one upstream connection", async () => {
    await start(false);
    for (let i = 0; i < 6; i++) {
      expect((await get(`${BUILDS}?n=${i}`)).status).toBe(200);
      expect((await post(`body-${i}`)).status).toBe(200);
    }
    expect(upstream.seen).toHaveLength(12);
    expect(upstream.seen.every((s) => s.connection === 1 && s.complete)).toBe(true);
    expect(upstream.connections()).toBe(1);
  });

  it("an answer with Connection: close takes its connection out of the pool; the next request gets a new one", async () => {
    await start(false);
    for (const path of [BUILDS, `${BUILDS}?case=close`, BUILDS, BUILDS]) expect((await get(path)).status, path).toBe(200);
    expect(upstream.seen.map((s) => s.connection)).toEqual([1, 1, 2, 2]);
  });

  it("a bodiless GET whose pooled connection the upstream drops is sent once more, on a new connection", async () => {
    await start(true);
    expect((await get()).status).toBe(200);
    const res = await get(`${BUILDS}?again`);
    expect(res.status).toBe(200);
    expect(res.body).toBe("ok");
    expect(upstream.seen.map((s) => [s.url, s.connection, s.first])).toEqual([
      [BUILDS, 1, true],
      [`${BUILDS}?again`, 1, false],
      [`${BUILDS}?again`, 2, true],
    ]);
  });

  it("is retried once only: an upstream that drops it again gets 502", async () => {
    await start(false);
    expect((await get()).status).toBe(200);
    const res = await get(`${BUILDS}?case=reset`);
    expect(res.status).toBe(502);
    expect(res.json()).toMatchObject({ error: { code: "upstream_unavailable" } });
    expect(upstream.seen.filter((s) => s.url.endsWith("case=reset")).map((s) => s.connection)).toEqual([1, 2]);
  });

  it("a request with a body is never replayed: a dropped pooled connection is a 502", async () => {
    await start(true);
    expect((await get()).status).toBe(200);
    const res = await post("pay once");
    expect(res.status).toBe(502);
    expect(res.json()).toMatchObject({ error: { code: "upstream_unavailable" } });
    const posts = upstream.seen.filter((s) => s.method === "POST");
    expect(posts).toHaveLength(1);
    expect(posts[0]).toMatchObject({ connection: 1, first: false });
  });
});

describe("writes to the client", () => {
  /** Socket writes (each one a system call) Tollgate makes on the connection of the next client. */
  function countWrites(): () => number {
    let writes = 0;
    gw.server.once("connection", (socket: Socket) => {
      const s = socket as unknown as Record<"_write" | "_writev", (...args: unknown[]) => unknown>;
      for (const method of ["_write", "_writev"] as const) {
        const original = s[method];
        s[method] = function (this: unknown, ...args: unknown[]) {
          writes++;
          return original.apply(this, args);
        };
      }
    });
    return () => writes;
  }

  it("an answer of known length leaves in one write: head, body and end together", async () => {
    await start(false);
    expect((await get()).status).toBe(200);
    const writes = countWrites();
    const res = await get();
    expect(res.status).toBe(200);
    expect(res.body).toBe("ok");
    expect(writes()).toBe(1);
  });

  it("a stream of unknown length shows its head before its first chunk", async () => {
    await start(false);
    const url = new URL(gw.url);
    const head = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest({ host: url.hostname, port: url.port, path: `${BUILDS}?case=head-only`, headers: { authorization: bearer(gw.world.tokens.bobGlobal) }, agent: false }, resolve);
      req.setTimeout(5_000, () => req.destroy(new Error("no head within 5 s")));
      req.on("error", reject);
      req.end();
    });
    expect(head.statusCode).toBe(200);
    expect(head.headers["content-type"]).toBe("text/event-stream");
    upstream.release();
    let body = "";
    for await (const chunk of head) body += String(chunk);
    expect(body).toBe("data: late\n\n");
  });
});
