// Envoy's ext_authz filter in HTTP service mode, with path_prefix /v1/ext-authz: the check is
// sent here byte for byte as Envoy sends it (the original method, path_prefix + the original
// request target, Host, Authorization, Content-Length: 0 and no body unless with_request_body),
// several checks on one kept-alive connection as Envoy's connection pool does.
import type { Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../src/audit/types.js";
import { bearer, buildWorld, type World } from "./fixture.js";
import { createHttpServer } from "../../src/http/server.js";

const servers: Server[] = [];

/** Serves a world's app; returns its port. */
async function listen(w: World): Promise<number> {
  const server = createHttpServer(w.tollgate.app, w.tollgate.config).listen(0, "127.0.0.1");
  servers.push(server);
  await new Promise((resolve) => server.once("listening", resolve));
  return (server.address() as AddressInfo).port;
}

let world: World;
let port: number;
beforeAll(async () => {
  world = await buildWorld();
  port = await listen(world);
});
afterAll(() =>
  Promise.all(
    servers.map((server) => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    }),
  ),
);

interface Check {
  method: string;
  target: string;
  authorization?: string;
  /** Sent only with with_request_body; Envoy then sets Content-Length to its size. */
  body?: string;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The bytes Envoy's ext_authz HTTP client writes for one check. */
function envoyCheck(c: Check): string {
  const lines = [
    `${c.method} /v1/ext-authz${c.target} HTTP/1.1`,
    "host: api.example.com",
    `content-length: ${Buffer.byteLength(c.body ?? "")}`,
    ...(c.authorization ? [`authorization: ${c.authorization}`] : []),
    "x-envoy-expected-rq-timeout-ms: 250",
  ];
  return `${lines.join("\r\n")}\r\n\r\n${c.body ?? ""}`;
}

/** Sends the checks on one connection and reads one answer per check. */
function send(checks: Check[], to = port): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(to, "127.0.0.1");
    let buffer = Buffer.alloc(0);
    const answers: Answer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${answers.length} of ${checks.length} answers within 60 s: ${buffer.toString("latin1")}`));
    }, 60_000);
    socket.on("connect", () => socket.write(checks.map(envoyCheck).join("")));
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) break;
        const [statusLine, ...headerLines] = buffer.subarray(0, end).toString("latin1").split("\r\n");
        const headers = Object.fromEntries(headerLines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
        // A HEAD answer has no body, whatever its Content-Length says.
        const length = checks[answers.length]!.method === "HEAD" ? 0 : Number(headers["content-length"] ?? 0);
        if (buffer.length < end + 4 + length) break;
        answers.push({ status: Number(statusLine!.split(" ")[1]), headers, body: buffer.subarray(end + 4, end + 4 + length).toString("utf8") });
        buffer = buffer.subarray(end + 4 + length);
      }
      if (answers.length === checks.length) {
        clearTimeout(timer);
        socket.destroy();
        resolve(answers);
      }
    });
  });
}

const sendOne = async (c: Check, to = port): Promise<Answer> => (await send([c], to))[0]!;

describe("ext_authz checks of every method, on one connection", () => {
  it("judge the method and target after /v1/ext-authz with the check's Authorization", async () => {
    const alice = bearer(await world.session("alice"));
    const bob = bearer(await world.session("bob"));
    const cases: Array<Check & { status: number; reasons?: string[]; user?: string }> = [
      { method: "GET", target: "/api/v1/projects/priv/builds?x=1", authorization: bearer(world.tokens.bobGlobal), status: 200, user: "bob" },
      { method: "POST", target: "/api/v1/projects/priv/upload", authorization: bearer(world.tokens.bobGlobal), status: 200, user: "bob" },
      { method: "POST", target: "/api/v1/projects/priv/upload", authorization: bearer(world.tokens.bobGlobalRead), status: 403, reasons: ["insufficient_scope"] },
      { method: "PUT", target: "/api/v1/projects/priv/visibility", authorization: alice, status: 200, user: "alice" },
      { method: "PUT", target: "/api/v1/projects/priv/visibility", authorization: bob, status: 403, reasons: ["insufficient_role"] },
      { method: "PATCH", target: "/api/v1/admin/clusters/c1", authorization: alice, status: 200, user: "alice" },
      { method: "DELETE", target: "/api/v1/projects/priv", authorization: alice, status: 200, user: "alice" },
      { method: "DELETE", target: "/api/v1/projects/priv/builds", authorization: alice, status: 403, reasons: ["unknown_route"] },
      { method: "OPTIONS", target: "/api/v1/projects/priv/builds", status: 403, reasons: ["unknown_route"] },
      { method: "HEAD", target: "/api/v1/projects/priv/builds", authorization: alice, status: 403 },
      { method: "GET", target: "/api/v1/projects/priv/builds", status: 401, reasons: ["missing_token"] },
      { method: "GET", target: "/api/v1/projects/priv//builds", authorization: alice, status: 400, reasons: ["invalid_path"] },
      // The root is judged too (the policy refuses a trailing "/"), not answered 404 by Tollgate.
      { method: "GET", target: "/", status: 400, reasons: ["invalid_path"] },
    ];
    const answers = await send(cases);
    cases.forEach((c, i) => {
      const answer = answers[i]!;
      const name = `${c.method} ${c.target}`;
      expect(answer.status, `${name}: ${answer.body}`).toBe(c.status);
      expect(answer.headers["x-tollgate-decision-id"], name).toMatch(/^[0-9a-f-]{36}$/);
      if (c.status === 200) {
        expect(answer.body, name).toBe("");
        expect(answer.headers["x-tollgate-user"], name).toBe(c.user);
      } else {
        expect(answer.headers["x-tollgate-user"], name).toBeUndefined();
        if (c.reasons) expect(JSON.parse(answer.body), name).toMatchObject({ error: { code: c.reasons[0], reasons: c.reasons } });
      }
    });
    // The challenges Envoy passes on to the client.
    expect(answers[2]!.headers["www-authenticate"]).toBe('Bearer realm="tollgate", error="insufficient_scope", scope="write"');
    expect(answers[10]!.headers["www-authenticate"]).toBe('Bearer realm="tollgate"');
  });

  it("leave an audit record with source ext_authz naming the judged request", async () => {
    const w = await buildWorld();
    await sendOne({ method: "GET", target: "/api/v1/projects/priv/builds?page=2", authorization: bearer(w.tokens.bobGlobal) }, await listen(w));
    await w.tollgate.backends.audit.flush();
    const records: AuditRecord[] = (await w.tollgate.backends.audit.query({ limit: 10 })).records;
    expect(records.map((r) => [r.source, r.method, r.path, r.route, r.status, r.user_id])).toEqual([
      ["ext_authz", "GET", "/api/v1/projects/priv/builds", "/api/v1/projects/{project}/builds", 200, "bob"],
    ]);
  });

  it("ignore a body sent with with_request_body and keep the connection usable", async () => {
    const [withBody, next] = await send([
      { method: "POST", target: "/api/v1/projects/priv/upload", authorization: bearer(world.tokens.bobGlobal), body: '{"file":"a.txt"}' },
      { method: "GET", target: "/api/v1/projects/pub/builds" },
    ]);
    expect(withBody!.status).toBe(200);
    expect(next!.status).toBe(200);
  });

  it("send every identity header on allow, empty when it does not apply, so Envoy overwrites the client's copies", async () => {
    const anonymous = await sendOne({ method: "GET", target: "/api/v1/projects/pub/builds" });
    expect(anonymous.status).toBe(200);
    expect(anonymous.headers).toMatchObject({ "x-tollgate-user": "", "x-tollgate-token-type": "", "x-tollgate-token-id": "" });
  });

  it("report the rate limit and answer 429 with Retry-After over it", async () => {
    const limited = await buildWorld({ TOLLGATE_RATE_LIMITS: '{"api":{"default":1}}' });
    const check = { method: "GET", target: "/api/v1/projects/priv/builds", authorization: bearer(limited.tokens.bobGlobal) };
    const [ok, over] = await send([check, check], await listen(limited));
    expect(ok!.headers.ratelimit).toBe('"default";r=0;t=61');
    expect(over!.status).toBe(429);
    expect(Number(over!.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(over!.body)).toMatchObject({ error: { code: "rate_limited" } });
  });
});

describe("checks that name no request", () => {
  it.each(["", "?x=1"])("/v1/ext-authz%s → 400 invalid_request", async (rest) => {
    const answer = await sendOne({ method: "GET", target: rest });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: "invalid_request" } });
  });
});
