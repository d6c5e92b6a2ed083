// `Expect: 100-continue` and bodies of requests Tollgate answers without forwarding, on raw
// sockets: 100 Continue only after an allow; a denial leaves a large, chunked or held-back body
// unread and closes, and drains a small one so the connection serves the next request.
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ADMIN_TOKEN } from "../http/fixture.js";
import { startGateway, startUpstream, type Gateway, type Upstream } from "./helpers.js";

const MAX_BODY = 1_048_576;
const WAIT_MS = 10_000;

let upstream: Upstream;
let gw: Gateway;
let bobSession: string;

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_GATEWAY_MAX_BODY_BYTES: String(MAX_BODY) });
  bobSession = await gw.world.session("bob");
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

beforeEach(() => upstream.reset());

/** A raw connection to Tollgate that is read as it goes. */
interface Conversation {
  write(data: string | Buffer): void;
  /** Resolves with everything received once `pattern` matches it (rejects after WAIT_MS). */
  until(pattern: RegExp): Promise<string>;
  /** Resolves true when the server closes the connection (false after WAIT_MS). */
  closedByServer(): Promise<boolean>;
  received(): string;
  end(): void;
}

async function open(): Promise<Conversation> {
  const socket: Socket = connect(gw.port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  let text = "";
  let closed = false;
  const waiters = new Set<() => void>();
  const wake = (): void => waiters.forEach((w) => w());
  socket.on("data", (d: Buffer) => ((text += d.toString("latin1")), wake()));
  socket.on("close", () => ((closed = true), wake()));
  socket.on("error", () => undefined);
  const wait = (done: () => boolean): Promise<boolean> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => (waiters.delete(check), resolve(false)), WAIT_MS);
      waiters.add(check);
      check();
    });
  return {
    write: (data) => socket.write(data),
    async until(pattern) {
      if (!(await wait(() => pattern.test(text)))) throw new Error(`no ${pattern} within ${WAIT_MS} ms; received: ${JSON.stringify(text)}`);
      return text;
    },
    closedByServer: () => wait(() => closed),
    received: () => text,
    end: () => socket.destroy(),
  };
}

/** A complete response with a JSON body (Content-Length framed). */
const ANSWER = /HTTP\/1\.1 [2-5]\d\d [^\r]*\r\n(?:[^\r]+\r\n)*?content-length: *(\d+)\r\n(?:[^\r]+\r\n)*\r\n/i;

function finalStatuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

const upload = (headers: string[]): string => `POST /api/v1/projects/priv/upload HTTP/1.1\r\nHost: x\r\n${headers.join("\r\n")}\r\n\r\n`;

describe("Expect: 100-continue", () => {
  it("a denied request never sees 100 Continue: it gets the denial and its body is not awaited", async () => {
    for (const auth of [[], ["Authorization: Bearer tg_g_not_a_real_token"], [`Authorization: Bearer ${await gw.world.session("dave")}`]]) {
      const conv = await open();
      conv.write(upload([...auth, "Content-Type: text/plain", "Content-Length: 5000", "Expect: 100-continue"]));
      const text = await conv.until(ANSWER);
      expect(text).not.toContain("100 Continue");
      expect(finalStatuses(text)[0]).toBeGreaterThanOrEqual(400);
      expect(text).toMatch(/\r\nconnection: close\r\n/i);
      expect(await conv.closedByServer()).toBe(true);
      conv.end();
    }
    expect(upstream.hits).toEqual([]);
  });

  it("an allowed request gets 100 Continue, then the upstream's answer to the body it sent", async () => {
    const conv = await open();
    const body = "hello upstream";
    conv.write(upload([`Authorization: Bearer ${bobSession}`, "Content-Type: text/plain", `Content-Length: ${body.length}`, "Expect: 100-continue"]));
    await conv.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
    expect(upstream.hits.filter((h) => h.complete)).toEqual([]);
    conv.write(body);
    const text = await conv.until(/HTTP\/1\.1 200 [\s\S]*\r\n0\r\n\r\n$/);
    expect(finalStatuses(text)).toEqual([100, 200]);
    expect(upstream.hits).toHaveLength(1);
    expect(upstream.hits[0]).toMatchObject({ method: "POST", url: "/api/v1/projects/priv/upload", body, complete: true });
    conv.end();
  });

  it("an allowed request over the gateway's body limit gets 413 without 100 Continue", async () => {
    const conv = await open();
    conv.write(upload([`Authorization: Bearer ${bobSession}`, "Content-Type: text/plain", `Content-Length: ${MAX_BODY + 1}`, "Expect: 100-continue"]));
    const text = await conv.until(ANSWER);
    expect(finalStatuses(text)).toEqual([413]);
    expect(await conv.closedByServer()).toBe(true);
    expect(upstream.hits).toEqual([]);
    conv.end();
  });

  it("Tollgate's own endpoints send 100 Continue once they read the body, and not before authenticating", async () => {
    const body = JSON.stringify({ method: "GET", path: "/api/v1/projects/pub/builds" });
    const authorize = await open();
    authorize.write(`POST /v1/authorize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
    await authorize.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
    authorize.write(body);
    expect(finalStatuses(await authorize.until(ANSWER))).toEqual([100, 200]);
    authorize.end();

    const dataApi = await open();
    const input = JSON.stringify({ input: { method: "GET", path: "/api/v1/projects/pub/builds" } });
    dataApi.write(`POST /v1/data/tollgate/authz/decision HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${input.length}\r\nExpect: 100-continue\r\n\r\n`);
    await dataApi.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
    dataApi.write(input);
    expect(finalStatuses(await dataApi.until(ANSWER))).toEqual([100, 200]);
    dataApi.end();

    // A declared body over TOLLGATE_MAX_BODY_BYTES (16 KiB) is refused without inviting it.
    for (const path of ["/v1/authorize", "/v1/data/tollgate/authz/decision"]) {
      const big = await open();
      big.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n`);
      const text = await big.until(ANSWER);
      expect(text, path).not.toContain("100 Continue");
      expect(finalStatuses(text)[0], path).toBe(path === "/v1/authorize" ? 413 : 400);
      big.end();
    }

    const userBody = JSON.stringify({ role: "user" });
    for (const [credential, status] of [["wrong-admin-token-0123456789abcdef", 401], [ADMIN_TOKEN, 200]] as const) {
      const admin = await open();
      admin.write(`PUT /v1/admin/users/erin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${credential}\r\nContent-Type: application/json\r\nContent-Length: ${userBody.length}\r\nExpect: 100-continue\r\n\r\n`);
      if (status === 200) {
        await admin.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
        admin.write(userBody);
      }
      expect(finalStatuses(await admin.until(ANSWER))).toEqual(status === 200 ? [100, 200] : [401]);
      admin.end();
    }
  });
});

describe("the body of a denied request", () => {
  it("a declared body over 64 KiB is not read: the denial says Connection: close and the server closes", async () => {
    const conv = await open();
    conv.write(upload(["Content-Type: text/plain", `Content-Length: ${64 * 1024 + 1}`]));
    conv.write("x".repeat(1_000));
    const text = await conv.until(ANSWER);
    expect(finalStatuses(text)).toEqual([401]);
    expect(text).toMatch(/\r\nconnection: close\r\n/i);
    expect(await conv.closedByServer()).toBe(true);
    conv.end();
  });

  it("a chunked body is not read: Connection: close", async () => {
    const conv = await open();
    conv.write(upload(["Content-Type: text/plain", "Transfer-Encoding: chunked"]));
    conv.write("5\r\nhello\r\n");
    const text = await conv.until(ANSWER);
    expect(finalStatuses(text)).toEqual([401]);
    expect(text).toMatch(/\r\nconnection: close\r\n/i);
    expect(await conv.closedByServer()).toBe(true);
    conv.end();
  });

  it("a body of up to 64 KiB is drained, and the connection serves the next request", async () => {
    const conv = await open();
    const body = "y".repeat(64 * 1024);
    conv.write(upload(["Content-Type: text/plain", `Content-Length: ${body.length}`]) + body);
    const first = await conv.until(ANSWER);
    expect(finalStatuses(first)).toEqual([401]);
    expect(first).not.toMatch(/\r\nconnection: close\r\n/i);
    conv.write(`GET /api/v1/projects/pub/builds HTTP/1.1\r\nHost: x\r\n\r\n`);
    const both = await conv.until(/HTTP\/1\.1 401 [\s\S]*HTTP\/1\.1 200 /);
    expect(finalStatuses(both)).toEqual([401, 200]);
    expect(upstream.hits.map((h) => h.url)).toEqual(["/api/v1/projects/pub/builds"]);
    conv.end();
  });
});
