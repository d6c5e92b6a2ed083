// The gateway's proxy against a controllable node:http upstream: what is forwarded, what is
// stripped, streaming in both directions, and every way the upstream or the client can fail.
import { request as httpRequest, type IncomingMessage } from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { NOW, bearer } from "../http/fixture.js";
import { CLOSED_PORT } from "../support/servers.js";
import { rawRequest, send, sleep, startGateway, startUpstream, waitFor, type Gateway, type Upstream } from "./helpers.js";

/** Far above any answer's time on a loaded machine: only a hanging upstream reaches it. */
const TIMEOUT_MS = 60_000;
/** The gateway of the upstream-timeout test, which waits for it. */
const SHORT_TIMEOUT_MS = 1_000;
const MAX_BODY = 4_096;

let upstream: Upstream;
let gw: Gateway;
const extra: Gateway[] = [];

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({
    TOLLGATE_UPSTREAM_URL: upstream.url,
    TOLLGATE_UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
    TOLLGATE_GATEWAY_MAX_BODY_BYTES: String(MAX_BODY),
  });
});

afterAll(async () => {
  await Promise.allSettled([gw?.close(), ...extra.map((g) => g.close())]);
  await upstream?.close();
});

beforeEach(() => upstream.reset());

const auth = (credential: string) => ({ authorization: bearer(credential) });

/** A streaming GET: the response and a reader that returns one chunk at a time (bounded wait). */
function openStream(path: string, headers: Record<string, string>) {
  const url = new URL(gw.url);
  return new Promise<{ res: IncomingMessage; next(): Promise<string | null>; destroy(): void }>((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, headers, agent: false }, (res) => {
      const iterator = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      resolve({
        res,
        async next() {
          const step = await Promise.race([iterator.next(), sleep(30_000).then(() => Promise.reject(new Error("no chunk within 30 s")))]);
          return step.done ? null : step.value.toString("utf8");
        },
        destroy: () => req.destroy(),
      });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("forwarding an allowed request", () => {
  it("forwards the method, the path with its query exactly as sent, and the body", async () => {
    const bob = auth(gw.world.tokens.bobGlobal);
    const path = "/api/v1/projects/priv/builds?b=2&a=1&a=%2F&q=x+y&empty=&u=%C3%BC&semi=;&dots=../..";
    const get = await send(gw.url, path, { headers: bob });
    expect(get.status).toBe(200);
    expect(upstream.hits.at(-1)).toMatchObject({ method: "GET", url: path, body: "" });

    const payload = Buffer.from("line 1\r\nline 2\n\u0000binary\u00ff tail");
    const post = await send(gw.url, "/api/v1/projects/priv/upload?name=r%C3%A9sum%C3%A9.txt", {
      method: "POST",
      headers: { ...bob, "content-type": "application/octet-stream", "content-length": String(payload.length) },
      body: payload,
    });
    expect(post.status).toBe(200);
    const hit = upstream.hits.at(-1)!;
    expect(hit).toMatchObject({ method: "POST", url: "/api/v1/projects/priv/upload?name=r%C3%A9sum%C3%A9.txt", complete: true });
    expect(hit.headers["content-type"]).toBe("application/octet-stream");
    expect(hit.headers["content-length"]).toBe(String(payload.length));
    expect(hit.body).toBe(payload.toString("utf8"));
    // The upstream's answer comes back unchanged.
    expect(post.json()).toMatchObject({ method: "POST", url: "/api/v1/projects/priv/upload?name=r%C3%A9sum%C3%A9.txt" });

    const alice = auth(await gw.world.session("alice"));
    const json = JSON.stringify({ role: "Developer" });
    for (const [method, path2] of [
      ["PUT", "/api/v1/projects/priv/collaborators/carol"],
      ["DELETE", "/api/v1/projects/priv/cronjobs/c1"],
      ["PATCH", "/api/v1/admin/clusters/eu-1"],
    ] as const) {
      const res = await send(gw.url, path2, { method, headers: { ...alice, "content-type": "application/json" }, body: json });
      expect(res.status, `${method} ${path2}`).toBe(200);
      expect(upstream.hits.at(-1), `${method} ${path2}`).toMatchObject({ method, url: path2, body: json });
    }
  });

  it("unique query strings are forwarded as sent and do not grow the route cache", async () => {
    const bob = auth(gw.world.tokens.bobGlobal);
    await send(gw.url, "/api/v1/projects/priv/jobs", { headers: bob });
    const cached = gw.world.tollgate.engine.cachedRoutes;
    for (let i = 0; i < 50; i++) {
      const path = `/api/v1/projects/priv/jobs?n=${i}&pad=${"z".repeat(10_000)}`;
      expect((await send(gw.url, path, { headers: bob })).status).toBe(200);
      expect(upstream.hits.at(-1)!.url).toBe(path);
    }
    expect(gw.world.tollgate.engine.cachedRoutes).toBe(cached);
  });

  it("passes the upstream's status and body through", async () => {
    const res = await send(gw.url, "/api/v1/projects/priv/builds?mode=status&code=418", { headers: auth(gw.world.tokens.bobGlobal) });
    expect(res.status).toBe(418);
    expect(res.json()).toEqual({ upstream_status: 418 });
  });

  it("streams a chunked upload to the upstream as it is sent, not after it ends", async () => {
    const url = new URL(gw.url);
    const parts = ["part-1;", "part-2;", "part-3;"];
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        { host: url.hostname, port: url.port, method: "POST", path: "/api/v1/projects/priv/upload", agent: false, headers: { ...auth(gw.world.tokens.bobGlobal), "content-type": "text/plain" } },
        (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
      void (async () => {
        req.write(parts[0]);
        // The upstream sees the request while the client is still sending.
        const seen = await waitFor(() => upstream.hits.length === 1);
        expect(seen).toBe(true);
        expect(upstream.hits[0]!.complete).toBe(false);
        await sleep(30);
        req.write(parts[1]);
        await sleep(30);
        req.end(parts[2]);
      })().catch(reject);
    });
    const res = await answer;
    expect(res.status).toBe(200);
    const hit = upstream.hits[0]!;
    expect(hit).toMatchObject({ method: "POST", body: parts.join(""), complete: true });
    expect(hit.headers["transfer-encoding"]).toBe("chunked");
  });

  it("frames a POST that came without a body as Content-Length: 0, and such a GET not at all", async () => {
    const credential = `Authorization: ${bearer(gw.world.tokens.bobGlobal)}`;
    for (const [method, path] of [["POST", "/api/v1/projects/priv/upload"], ["GET", "/api/v1/projects/priv/builds"]] as const) {
      const result = await rawRequest(gw.port, `${method} ${path} HTTP/1.1\r\nHost: tollgate.test\r\n${credential}\r\n\r\n`, { expectResponses: 1, waitMs: 5_000 });
      expect(result.statuses, method).toEqual([200]);
      const { headers } = upstream.hits.at(-1)!;
      expect(headers["content-length"], method).toBe(method === "POST" ? "0" : undefined);
      expect(headers["transfer-encoding"], method).toBeUndefined();
    }
  });

  it("prefixes the path of TOLLGATE_UPSTREAM_URL", async () => {
    const prefixed = await startGateway({ TOLLGATE_UPSTREAM_URL: `${upstream.url}/base/` });
    extra.push(prefixed);
    const res = await send(prefixed.url, "/api/v1/projects/pub/builds?x=1");
    expect(res.status).toBe(200);
    expect(upstream.hits.at(-1)!.url).toBe("/base/api/v1/projects/pub/builds?x=1");
  });
});

describe("identity headers", () => {
  const spoofed = {
    "X-Tollgate-User": "alice",
    "x-tollgate-token-type": "user",
    "X-TOLLGATE-TOKEN-ID": "tok_spoofed",
    "X-Tollgate-Decision-Id": "00000000-0000-0000-0000-000000000000",
    "X-Tollgate-Projects": "priv,pub,secret",
    "X-Tollgate-Permissions": "read,trigger",
    "X-Tollgate-Admin": "true",
  };

  it("removes Authorization, strips spoofed X-Tollgate-* headers and adds the identity Tollgate vouches for", async () => {
    const res = await send(gw.url, "/api/v1/projects/priv/builds", {
      headers: { ...auth(gw.world.tokens.bobGlobal), ...spoofed, "x-forwarded-for": "203.0.113.9", cookie: "a=b" },
    });
    expect(res.status).toBe(200);
    const { headers, rawHeaders } = upstream.hits.at(-1)!;
    expect(headers.authorization).toBeUndefined();
    expect(rawHeaders.join("\n")).not.toContain(gw.world.tokens.bobGlobal);
    expect(headers["x-tollgate-user"]).toBe("bob");
    expect(headers["x-tollgate-token-type"]).toBe("global_token");
    expect(headers["x-tollgate-token-id"]).toBe(gw.world.tokenIds.bobGlobal);
    expect(headers["x-tollgate-decision-id"]).toBe(res.headers["x-tollgate-decision-id"]);
    expect(headers["x-tollgate-decision-id"]).not.toBe(spoofed["X-Tollgate-Decision-Id"]);
    // Every identity header is sent; those that do not apply are empty.
    expect(headers["x-tollgate-projects"]).toBe("");
    expect(headers["x-tollgate-permissions"]).toBe("");
    expect(headers["x-tollgate-admin"]).toBeUndefined();
    // Each identity header arrives once: the client's copies are gone, not merged.
    const names = rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const name of ["x-tollgate-user", "x-tollgate-token-type", "x-tollgate-token-id", "x-tollgate-decision-id", "x-tollgate-projects", "x-tollgate-permissions"]) {
      expect(names.filter((n) => n === name), name).toHaveLength(1);
    }
    expect(rawHeaders.join("\n")).not.toMatch(/alice|tok_spoofed|secret/);
    // Ordinary headers pass; X-Forwarded-For from a peer that is not a trusted proxy is replaced.
    expect(headers.cookie).toBe("a=b");
    expect(headers["x-forwarded-for"]).toBe("127.0.0.1");
  });

  it("names the user for a session, with an empty token id", async () => {
    await send(gw.url, "/api/v1/projects/priv/builds", { headers: { ...auth(await gw.world.session("alice")), ...spoofed } });
    const { headers } = upstream.hits.at(-1)!;
    expect(headers).toMatchObject({ "x-tollgate-user": "alice", "x-tollgate-token-type": "user", "x-tollgate-token-id": "", "x-tollgate-projects": "" });
  });

  it("strips spoofed identity on an anonymous public read and names nobody", async () => {
    const res = await send(gw.url, "/api/v1/projects/pub/builds", { headers: spoofed });
    expect(res.status).toBe(200);
    const { headers } = upstream.hits.at(-1)!;
    expect(headers).toMatchObject({ "x-tollgate-user": "", "x-tollgate-token-type": "", "x-tollgate-token-id": "", "x-tollgate-projects": "", "x-tollgate-permissions": "" });
    expect(headers["x-tollgate-decision-id"]).toBe(res.headers["x-tollgate-decision-id"]);
  });

  it("sends an MCP token's live granted projects in X-Tollgate-Projects", async () => {
    const res = await send(gw.url, "/api/v1/mcp/projects/priv/builds", { headers: { ...auth(gw.world.tokens.bobMcp), ...spoofed } });
    expect(res.status).toBe(200);
    expect(upstream.hits.at(-1)!.headers).toMatchObject({
      "x-tollgate-user": "bob",
      "x-tollgate-token-type": "mcp_token",
      "x-tollgate-token-id": gw.world.tokenIds.bobMcp,
      "x-tollgate-projects": "priv",
      // bob is a Developer on priv and his grant allows triggering: the policy says so.
      "x-tollgate-permissions": "read,trigger",
    });

    // alice: a live grant on pub and an expired one on priv; only pub is named.
    const { token } = await gw.world.tollgate.issuer.issue({
      type: "mcp",
      user_id: "alice",
      grants: [{ project_id: "pub" }, { project_id: "priv", expires_at: new Date((NOW - 60) * 1000) }],
    });
    const listing = await send(gw.url, "/api/v1/mcp/projects", { headers: { ...auth(token), ...spoofed } });
    expect(listing.status).toBe(200);
    expect(upstream.hits.at(-1)!.headers["x-tollgate-projects"]).toBe("pub");
    expect(upstream.hits.at(-1)!.headers["x-tollgate-permissions"]).toBe("read");
  });

  it("leaves out of X-Tollgate-Projects a granted project the user no longer collaborates on, and denies the listing without one", async () => {
    const { facts, issuer } = gw.world.tollgate;
    await facts.directoryStore.setCollaborator("pub", "erin", "Developer");
    await facts.directoryStore.setCollaborator("priv", "erin", "Developer");
    const { token } = await issuer.issue({ type: "mcp", user_id: "erin", grants: [{ project_id: "pub" }, { project_id: "priv" }] });
    const listing = () => send(gw.url, "/api/v1/mcp/projects", { headers: auth(token) });
    expect((await listing()).status).toBe(200);
    expect(upstream.hits.at(-1)!.headers["x-tollgate-projects"]).toBe("priv,pub");

    await facts.directoryStore.removeCollaborator("priv", "erin");
    expect((await listing()).status).toBe(200);
    expect(upstream.hits.at(-1)!.headers["x-tollgate-projects"]).toBe("pub");

    await facts.directoryStore.removeCollaborator("pub", "erin");
    const hits = upstream.hits.length;
    const denied = await listing();
    expect(denied.status).toBe(403);
    expect(denied.json()).toMatchObject({ error: { code: "grant_missing" } });
    expect(upstream.hits.length).toBe(hits);
  });

  it("does not forward hop-by-hop request headers, including those named in Connection", async () => {
    const res = await send(gw.url, "/api/v1/projects/priv/builds", {
      headers: {
        ...auth(gw.world.tokens.bobGlobal),
        connection: "keep-alive, X-Hop-A, x-hop-b",
        "x-hop-a": "1",
        "x-hop-b": "2",
        "keep-alive": "timeout=5",
        te: "trailers",
        "proxy-authorization": "Basic c2VjcmV0",
        "proxy-connection": "keep-alive",
        "x-kept": "yes",
      },
    });
    expect(res.status).toBe(200);
    const { headers } = upstream.hits.at(-1)!;
    for (const name of ["x-hop-a", "x-hop-b", "keep-alive", "te", "proxy-authorization", "proxy-connection"]) expect(headers[name], name).toBeUndefined();
    expect(String(headers.connection ?? "")).not.toMatch(/hop/i);
    expect(headers["x-kept"]).toBe("yes");
  });
});

describe("response headers", () => {
  it("reports the rate limit on proxied responses", async () => {
    const first = await send(gw.url, "/api/v1/projects/priv/builds", { headers: auth(gw.world.tokens.bobGlobal) });
    const second = await send(gw.url, "/api/v1/projects/priv/builds", { headers: auth(gw.world.tokens.bobGlobal) });
    expect(first.headers["ratelimit-policy"]).toBe('"default";q=600;w=60');
    const remaining = (r: typeof first) => Number(/^"default";r=(\d+);t=\d+$/.exec(String(r.headers.ratelimit))?.[1]);
    expect(remaining(second)).toBe(remaining(first) - 1);
    expect(first.headers["x-tollgate-decision-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("does not pass hop-by-hop response headers, including those named in Connection", async () => {
    const res = await send(gw.url, "/api/v1/projects/priv/builds?mode=headers", { headers: auth(gw.world.tokens.bobGlobal) });
    expect(res.status).toBe(200);
    expect(res.headers["x-resp-hop"]).toBeUndefined();
    expect(res.headers["proxy-authenticate"]).toBeUndefined();
    expect(res.headers["x-resp-kept"]).toBe("yes");
    expect(res.body).toBe("ok");
  });

  it("keeps Tollgate's rate-limit and decision headers when the upstream sends headers of the same names", async () => {
    // proxy.ts: "Headers Tollgate already set (rate limit, decision id) stay; the upstream's are added."
    const res = await send(gw.url, "/api/v1/projects/priv/builds?mode=headers", { headers: auth(gw.world.tokens.bobGlobal) });
    expect(res.headers["ratelimit-policy"]).toBe('"default";q=600;w=60');
    expect(res.headers["x-tollgate-decision-id"]).not.toBe("made-up-by-upstream");
    expect(res.headers["x-tollgate-decision-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("denied requests", () => {
  it("never reach the upstream and get the decision's status, a JSON error with the reasons and the right headers", async () => {
    const w = gw.world;
    const cases: Array<{ name: string; method?: string; path: string; headers?: Record<string, string>; body?: string; status: number; reasons: string[] }> = [
      { name: "no credential on a private project", path: "/api/v1/projects/priv/builds", status: 401, reasons: ["missing_token"] },
      { name: "unknown token", path: "/api/v1/projects/priv/builds", headers: auth("tg_glb_not-a-real-token"), status: 401, reasons: ["invalid_token"] },
      { name: "Basic credentials", path: "/api/v1/projects/pub/builds", headers: { authorization: "Basic Ym9iOmJvYg==" }, status: 401, reasons: ["invalid_token"] },
      {
        name: "read-only token writes",
        method: "POST",
        path: "/api/v1/projects/priv/upload",
        headers: { ...auth(w.tokens.bobGlobalRead), "content-type": "text/plain" },
        body: "payload that must not reach the upstream",
        status: 403,
        reasons: ["insufficient_scope"],
      },
      { name: "project token on another project", path: "/api/v1/projects/pub/builds", headers: auth(w.tokens.privateProject), status: 403, reasons: ["project_mismatch"] },
      { name: "MCP token outside /api/v1/mcp", path: "/api/v1/projects/priv/builds", headers: auth(w.tokens.bobMcp), status: 403, reasons: ["token_not_allowed_on_path"] },
      { name: "MCP token without a grant", path: "/api/v1/mcp/projects/pub/builds", headers: auth(w.tokens.bobMcp), status: 403, reasons: ["grant_missing"] },
      { name: "session of a non-admin on admin routes", path: "/api/v1/admin/users", headers: auth(await w.session("bob")), status: 403, reasons: ["insufficient_role"] },
      { name: "unknown route", path: "/api/v1/nothing-here", headers: auth(w.tokens.bobGlobal), status: 403, reasons: ["unknown_route"] },
      { name: "method not in the route table", method: "DELETE", path: "/api/v1/projects/priv/builds", headers: auth(w.tokens.bobGlobal), status: 403, reasons: ["unknown_route"] },
      { name: "dot segment", path: "/api/v1/projects/pub/../priv/builds", headers: auth(w.tokens.bobGlobal), status: 400, reasons: ["invalid_path"] },
    ];
    for (const c of cases) {
      const res = await send(gw.url, c.path, { method: c.method ?? "GET", headers: c.headers ?? {}, ...(c.body ? { body: c.body } : {}) });
      expect(res.status, c.name).toBe(c.status);
      expect(res.headers["content-type"], c.name).toMatch(/^application\/json/);
      const body = res.json();
      expect(body, c.name).toMatchObject({ error: { code: c.reasons[0], reasons: c.reasons }, decision_id: res.headers["x-tollgate-decision-id"] });
      expect(typeof body.error.message, c.name).toBe("string");
      if (c.status === 401) {
        expect(res.headers["www-authenticate"], c.name).toBe(
          c.reasons[0] === "missing_token"
            ? 'Bearer realm="tollgate"'
            : 'Bearer realm="tollgate", error="invalid_token", error_description="the access token is malformed, unknown or not valid here"',
        );
      } else if (c.reasons.includes("insufficient_scope")) {
        expect(res.headers["www-authenticate"], c.name).toBe('Bearer realm="tollgate", error="insufficient_scope", scope="write"');
      } else {
        expect(res.headers["www-authenticate"], c.name).toBeUndefined();
      }
      // Identity headers only on allow.
      expect(res.headers["x-tollgate-user"], c.name).toBeUndefined();
    }
    expect(upstream.hits.map((h) => `${h.method} ${h.url}`)).toEqual([]);
  });

  it("a rate-limited request gets 429 with Retry-After and never reaches the upstream", async () => {
    const limited = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_RATE_LIMITS: '{"api":{"default":2}}' });
    extra.push(limited);
    const bob = auth(limited.world.tokens.bobGlobal);
    expect((await send(limited.url, "/api/v1/projects/priv/builds", { headers: bob })).status).toBe(200);
    expect((await send(limited.url, "/api/v1/projects/priv/builds", { headers: bob })).status).toBe(200);
    const hitsBefore = upstream.hits.length;
    const res = await send(limited.url, "/api/v1/projects/priv/builds", { headers: bob });
    expect(res.status).toBe(429);
    expect(Number(res.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(Number(res.headers["retry-after"])).toBeLessThanOrEqual(61); // window + one sub-window
    expect(res.headers.ratelimit).toMatch(/^"default";r=0;t=\d+$/);
    expect(res.json()).toMatchObject({ error: { code: "rate_limited", reasons: ["rate_limited"] } });
    expect(upstream.hits.length).toBe(hitsBefore);
  });
});

describe("streaming responses", () => {
  it("passes chunks on as they arrive: the first one is read before the upstream writes the second", async () => {
    const stream = await openStream("/api/v1/projects/priv/builds?mode=stream", auth(gw.world.tokens.bobGlobal));
    expect(stream.res.statusCode).toBe(200);
    expect(stream.res.headers["ratelimit-policy"]).toBe('"default";q=600;w=60');
    expect(stream.res.headers["content-length"]).toBeUndefined();
    expect(await stream.next()).toBe("chunk-1\n");
    upstream.release();
    expect(await stream.next()).toBe("chunk-2\n");
    upstream.release();
    expect(await stream.next()).toBe("chunk-3\n");
    expect(await stream.next()).toBeNull();
  });

  it("passes a text/event-stream on event by event", async () => {
    const stream = await openStream("/api/v1/projects/priv/builds?mode=sse", { ...auth(gw.world.tokens.bobGlobal), accept: "text/event-stream" });
    expect(stream.res.statusCode).toBe(200);
    expect(stream.res.headers["content-type"]).toBe("text/event-stream");
    expect(stream.res.headers["cache-control"]).toBe("no-cache");
    expect(await stream.next()).toBe("data: 1\n\n");
    upstream.release();
    expect(await stream.next()).toBe("data: 2\n\n");
    expect(await stream.next()).toBeNull();
  });
});

describe("upstream failures", () => {
  it("answers 502 with a JSON error when the upstream is down", async () => {
    const down = await startGateway({ TOLLGATE_UPSTREAM_URL: `http://127.0.0.1:${CLOSED_PORT}` });
    extra.push(down);
    const res = await send(down.url, "/api/v1/projects/priv/builds", { headers: auth(down.world.tokens.bobGlobal) });
    expect(res.status).toBe(502);
    expect(res.json()).toMatchObject({ error: { code: "upstream_unavailable" }, decision_id: res.headers["x-tollgate-decision-id"] });
  });

  it("answers 502 when the upstream closes the connection before answering", async () => {
    const res = await send(gw.url, "/api/v1/projects/priv/builds?mode=reset", { headers: auth(gw.world.tokens.bobGlobal) });
    expect(res.status).toBe(502);
    expect(res.json()).toMatchObject({ error: { code: "upstream_unavailable" } });
  });

  it("answers 504 with a JSON error within TOLLGATE_UPSTREAM_TIMEOUT_MS when the upstream hangs, and abandons the upstream request", async () => {
    const short = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_UPSTREAM_TIMEOUT_MS: String(SHORT_TIMEOUT_MS) });
    extra.push(short);
    const started = Date.now();
    const res = await send(short.url, "/api/v1/projects/priv/builds?mode=hang", { headers: auth(short.world.tokens.bobGlobal) });
    const elapsed = Date.now() - started;
    expect(res.status).toBe(504);
    expect(res.json()).toMatchObject({ error: { code: "upstream_timeout" }, decision_id: res.headers["x-tollgate-decision-id"] });
    expect(elapsed).toBeGreaterThanOrEqual(SHORT_TIMEOUT_MS - 50);
    // The configured timeout, not the 30 s default (generous: a loaded machine is slow).
    expect(elapsed).toBeLessThan(15_000);
    expect(await waitFor(() => upstream.hits[0]?.aborted === true)).toBe(true);
  });

  it("cuts the client's response when the upstream drops the connection mid-response, and keeps serving", async () => {
    const outcome = await send(gw.url, "/api/v1/projects/priv/builds?mode=destroy", { headers: auth(gw.world.tokens.bobGlobal) }).then(
      (r) => ({ ok: true as const, r }),
      (err: Error) => ({ ok: false as const, err }),
    );
    if (outcome.ok) {
      // Whatever arrived, it is not the complete 100-byte body the upstream announced.
      expect(outcome.r.body.length).toBeLessThan(100);
    } else {
      expect(outcome.err.message).toMatch(/aborted|socket hang up|ECONNRESET|terminated/i);
    }
    const next = await send(gw.url, "/api/v1/projects/priv/builds", { headers: auth(gw.world.tokens.bobGlobal) });
    expect(next.status).toBe(200);
  });

  it("leaves an audit record for each outcome: the decision's status, and the upstream's status when it answered", async () => {
    const bob = auth(gw.world.tokens.bobGlobal);
    const outcomes = [
      await send(gw.url, "/api/v1/projects/priv/builds?mode=status&code=201", { headers: bob }),
      await send(gw.url, "/api/v1/projects/priv/builds?mode=reset", { headers: bob }),
      await send(gw.url, "/api/v1/projects/priv/builds"),
    ];
    const audit = gw.world.tollgate.backends.audit;
    await audit.flush();
    const { records } = await audit.query({ limit: 1000 });
    const byId = new Map(records.map((r) => [r.decision_id, r]));
    const [ok, reset, denied] = outcomes.map((o) => byId.get(String(o.headers["x-tollgate-decision-id"])));
    expect(ok).toMatchObject({ source: "gateway", allow: true, status: 200, upstream_status: 201, path: "/api/v1/projects/priv/builds", user_id: "bob" });
    expect(reset).toMatchObject({ source: "gateway", allow: true, status: 200, upstream_status: null });
    expect(denied).toMatchObject({ source: "gateway", allow: false, status: 401, upstream_status: null, reasons: ["missing_token"] });
  });
});

describe("idle upstream (TOLLGATE_UPSTREAM_IDLE_TIMEOUT_MS)", () => {
  it("cuts a response that goes silent, and keeps one whose data keeps flowing past the limit", async () => {
    // A drop every 100 ms for twice the idle limit: each gap leaves 900 ms for a slow machine.
    const IDLE_MS = 1_000;
    const idle = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_UPSTREAM_IDLE_TIMEOUT_MS: String(IDLE_MS), TOLLGATE_UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS) });
    extra.push(idle);
    const bob = auth(idle.world.tokens.bobGlobal);

    const dripping = await send(idle.url, "/api/v1/projects/priv/builds?mode=drip&n=20&ms=100", { headers: bob });
    expect(dripping.status).toBe(200);
    expect(dripping.body).toBe(Array.from({ length: 20 }, (_, i) => `drop-${i + 1}\n`).join(""));

    upstream.reset();
    const started = Date.now();
    const silent = await send(idle.url, "/api/v1/projects/priv/builds?mode=slow", { headers: bob }).then(
      (r) => `complete: ${r.body}`,
      (err: Error) => `cut: ${err.message}`,
    );
    expect(silent).toMatch(/^cut: /);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS / 2); // the idle limit cut it, not the upstream timeout
    expect(await waitFor(() => upstream.hits[0]?.aborted === true)).toBe(true);
    upstream.release();
  });
});

describe("a client that goes away", () => {
  it("aborts the upstream request while the upstream has not answered yet", async () => {
    const url = new URL(gw.url);
    const req = httpRequest({ host: url.hostname, port: url.port, path: "/api/v1/projects/priv/builds?mode=hang", headers: auth(gw.world.tokens.bobGlobal), agent: false });
    req.on("error", () => undefined);
    req.end();
    expect(await waitFor(() => upstream.hits.length === 1)).toBe(true);
    const gone = Date.now();
    req.destroy();
    // Well before the upstream timeout would have cut it.
    expect(await waitFor(() => upstream.hits[0]!.aborted, TIMEOUT_MS / 2)).toBe(true);
    expect(Date.now() - gone).toBeLessThan(TIMEOUT_MS / 2);
  });

  it("aborts the upstream request in the middle of a streamed response", async () => {
    const stream = await openStream("/api/v1/projects/priv/builds?mode=slow", auth(gw.world.tokens.bobGlobal));
    expect(await stream.next()).toBe("first\n");
    stream.destroy();
    expect(await waitFor(() => upstream.hits[0]!.aborted, TIMEOUT_MS / 2)).toBe(true);
    upstream.release();
    expect((await send(gw.url, "/api/v1/projects/priv/builds", { headers: auth(gw.world.tokens.bobGlobal) })).status).toBe(200);
  });

  it("audits the upstream's status for a stream the client left in the middle (the upstream did answer)", async () => {
    const stream = await openStream("/api/v1/projects/priv/builds?mode=slow", auth(gw.world.tokens.bobGlobal));
    const decisionId = String(stream.res.headers["x-tollgate-decision-id"]);
    expect(await stream.next()).toBe("first\n");
    stream.destroy();
    expect(await waitFor(() => upstream.hits[0]!.aborted, TIMEOUT_MS / 2)).toBe(true);
    upstream.release();
    const audit = gw.world.tollgate.backends.audit;
    await audit.flush();
    const record = (await audit.query({ limit: 1000 })).records.find((r) => r.decision_id === decisionId);
    // gateway.ts: upstream_status is "what answered the allowed request ... null when the upstream was not reached".
    expect(record).toMatchObject({ allow: true, status: 200, upstream_status: 200 });
  });
});

describe("request size limit (TOLLGATE_GATEWAY_MAX_BODY_BYTES)", () => {
  const upload = "/api/v1/projects/priv/upload";

  it("forwards a body of exactly the limit", async () => {
    const body = "x".repeat(MAX_BODY);
    const res = await send(gw.url, upload, { method: "POST", headers: { ...auth(gw.world.tokens.bobGlobal), "content-type": "text/plain" }, body });
    expect(res.status).toBe(200);
    expect(upstream.hits[0]!.body).toBe(body);
  });

  it("answers 413 to a declared Content-Length over the limit without contacting the upstream", async () => {
    const res = await send(gw.url, upload, {
      method: "POST",
      headers: { ...auth(gw.world.tokens.bobGlobal), "content-type": "text/plain" },
      body: "x".repeat(MAX_BODY + 1),
    });
    expect(res.status).toBe(413);
    expect(res.json()).toMatchObject({ error: { code: "body_too_large" }, decision_id: res.headers["x-tollgate-decision-id"] });
    await sleep(50);
    expect(upstream.hits).toEqual([]);
  });

  it("answers 413 to a chunked body that grows over the limit, and the upstream never gets it whole", async () => {
    const url = new URL(gw.url);
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        { host: url.hostname, port: url.port, method: "POST", path: upload, agent: false, headers: { ...auth(gw.world.tokens.bobGlobal), "content-type": "text/plain" } },
        (r) => {
          let body = "";
          r.on("data", (c: Buffer) => (body += c.toString()));
          r.on("end", () => resolve({ status: r.statusCode ?? 0, body }));
          r.on("error", reject);
        },
      );
      req.on("error", reject);
      void (async () => {
        for (let i = 0; i < 4 && !req.destroyed; i++) {
          req.write("y".repeat(1_500));
          await sleep(30);
        }
        req.end();
      })();
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: "body_too_large" } });
    await sleep(50);
    expect(upstream.hits.filter((h) => h.complete)).toEqual([]);
    expect((await send(gw.url, "/api/v1/projects/priv/builds", { headers: auth(gw.world.tokens.bobGlobal) })).status).toBe(200);
  });
});

describe("no upstream configured", () => {
  it("answers 503 upstream_not_configured to allowed requests and still denies the rest", async () => {
    const none = await startGateway({});
    extra.push(none);
    const allowed = await send(none.url, "/api/v1/projects/priv/builds", { headers: auth(none.world.tokens.bobGlobal) });
    expect(allowed.status).toBe(503);
    expect(allowed.json()).toMatchObject({ error: { code: "upstream_not_configured" }, decision_id: allowed.headers["x-tollgate-decision-id"] });
    const denied = await send(none.url, "/api/v1/projects/priv/builds");
    expect(denied.status).toBe(401);
  });
});
