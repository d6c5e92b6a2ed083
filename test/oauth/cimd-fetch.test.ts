// The SSRF guard of Client ID Metadata Document fetches: which addresses are refused, the pinned
// lookup (DNS rebinding), redirects, the 5 s deadline and the 5 KiB cap, against real https
// servers on loopback with the test CA. No test reaches beyond this machine.
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { refusedAddress } from "../../src/oauth/address-guard.js";
import { guardedFetch, GuardedFetchError, type GuardedFetchOptions, type ResolvedAddress } from "../../src/oauth/guarded-fetch.js";
import { stopServer } from "../gateway/helpers.js";
import { createTestHttpsServer, testCa } from "../support/test-ca.js";

let server: Server;
let port: number;
let origin: string;
const hits = new Map<string, number>();

function route(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? "/").split("?")[0]!;
  hits.set(path, (hits.get(path) ?? 0) + 1);
  const redirect = /^\/hop\/(\d+)$/.exec(path);
  if (redirect) {
    const n = Number(redirect[1]);
    res.writeHead(302, { location: n === 0 ? "/doc" : `/hop/${n - 1}` }).end();
    return;
  }
  switch (path) {
    case "/doc":
      res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
      return;
    case "/to-http":
      res.writeHead(302, { location: `http://127.0.0.1:${port}/doc` }).end();
      return;
    case "/to-private-literal":
      res.writeHead(307, { location: "https://10.0.0.7/doc" }).end();
      return;
    case "/to-private-name":
      res.writeHead(301, { location: `https://private.localhost:${port}/doc` }).end();
      return;
    case "/to-mapped":
      res.writeHead(302, { location: `https://[::ffff:a9fe:a9fe]:${port}/doc` }).end();
      return;
    case "/exactly-5-kib":
      res.writeHead(200, { "content-type": "application/json" }).end(Buffer.alloc(5 * 1024, 0x20));
      return;
    case "/oversized-chunked":
      // No Content-Length: the cap is counted on the bytes as they arrive.
      res.writeHead(200, { "content-type": "application/json" });
      res.write(Buffer.alloc(4 * 1024, 0x20));
      res.end(Buffer.alloc(2 * 1024, 0x20));
      return;
    case "/oversized-declared":
      res.writeHead(200, { "content-type": "application/json", "content-length": String(6 * 1024) });
      res.end(Buffer.alloc(6 * 1024, 0x20));
      return;
    case "/redirect-with-slow-body":
      // The redirect is followed before its body has ended: the connection is dropped mid-body.
      res.writeHead(302, { location: "/doc", "content-length": "2" });
      res.write(" ");
      setTimeout(() => res.end(" "), 500);
      return;
    case "/oversized-declared-slow":
      res.writeHead(200, { "content-type": "application/json", "content-length": String(6 * 1024) });
      res.write(" ");
      setTimeout(() => res.end(Buffer.alloc(6 * 1024 - 1, 0x20)), 500);
      return;
    case "/silent":
      return; // never answers
    case "/drip": {
      // Answers at once, then a byte a second: only a deadline on the whole fetch stops it.
      res.writeHead(200, { "content-type": "application/json" });
      const timer = setInterval(() => res.write(" "), 1_000);
      res.on("close", () => clearInterval(timer));
      return;
    }
    default:
      res.writeHead(404).end();
  }
}

/** Answers `localhost` (the name the test certificate is for) from a script, counting the lookups. */
function scriptedResolver(...answers: string[][]): { resolve: (host: string) => Promise<ResolvedAddress[]>; lookups: string[] } {
  const lookups: string[] = [];
  return {
    lookups,
    async resolve(host: string) {
      lookups.push(host);
      const next = answers[Math.min(lookups.length - 1, answers.length - 1)]!;
      return next.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
    },
  };
}

const trusted = (options: GuardedFetchOptions = {}): GuardedFetchOptions => ({ extraCa: testCa().ca, ...options });

async function refusal(promise: Promise<unknown>): Promise<GuardedFetchError> {
  const err = await promise.then(
    () => new Error("the fetch succeeded"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GuardedFetchError);
  return err as GuardedFetchError;
}

beforeAll(async () => {
  server = createTestHttpsServer(route);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
  origin = `https://localhost:${port}`;
});

afterAll(async () => {
  await stopServer(server);
});

describe("the address guard", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "link-local (cloud metadata)"],
    ["100.64.0.1", "CGNAT"],
    ["100.127.255.255", "CGNAT"],
    ["100.100.100.200", "CGNAT (Alibaba metadata)"],
    ["0.0.0.0", "this network"],
    ["0.1.2.3", "this network"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["198.18.0.1", "benchmarking"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fc00::1", "unique-local"],
    ["fd00:ec2::254", "unique-local (AWS metadata)"],
    ["fe80::1", "link-local"],
    ["::ffff:127.0.0.1", "IPv4-mapped loopback"],
    ["::ffff:7f00:1", "IPv4-mapped loopback, hex"],
    ["::ffff:10.0.0.1", "IPv4-mapped private"],
    ["::ffff:169.254.169.254", "IPv4-mapped metadata"],
    ["64:ff9b::a00:1", "NAT64 of 10.0.0.1"],
    ["2002:a00:1::", "6to4 of 10.0.0.1"],
    ["::7f00:1", "IPv4-compatible"],
    ["ff02::1", "multicast"],
    ["not-an-address", "not an address"],
  ])("refuses %s (%s)", (address) => {
    expect(refusedAddress(address)).not.toBeNull();
  });

  it.each(["8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.1", "172.32.0.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8"])("lets the public address %s through", (address) => {
    expect(refusedAddress(address)).toBeNull();
  });

  it("with loopback allowed (TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS) lets loopback through, and nothing else", () => {
    for (const address of ["127.0.0.1", "::1", "::ffff:127.0.0.1"]) expect(refusedAddress(address, { allowLoopback: true })).toBeNull();
    for (const address of ["10.0.0.1", "169.254.169.254", "100.64.0.1", "fd00::1", "0.0.0.0", "::ffff:10.0.0.1"]) expect(refusedAddress(address, { allowLoopback: true })).not.toBeNull();
  });
});

describe("guarded fetch", () => {
  it("fetches a document from an allowed address, with the test CA trusted", async () => {
    const res = await guardedFetch(`${origin}/doc`, trusted({ allowLoopback: true }));
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('{"ok":true}');
  });

  it("refuses loopback without the development switch: a host name resolved by the system, and IP literals (v4, v6, IPv4-mapped) that are never looked up", async () => {
    hits.clear();
    for (const url of [`${origin}/doc`, `https://127.0.0.1:${port}/doc`, `https://[::1]:${port}/doc`, `https://[::ffff:127.0.0.1]:${port}/doc`]) {
      expect((await refusal(guardedFetch(url, trusted()))).code, url).toBe("address_refused");
    }
    expect(hits.get("/doc")).toBeUndefined(); // never connected
  });

  it("refuses a host with any refused address among its answers", async () => {
    const { resolve } = scriptedResolver(["127.0.0.1", "10.0.0.1"]);
    expect((await refusal(guardedFetch(`${origin}/doc`, trusted({ allowLoopback: true, resolve })))).code).toBe("address_refused");
  });

  it("tells the client the same thing whether a host does not resolve or resolves to a refused address (no map of internal DNS); the difference only in `detail`", async () => {
    const failing = async (): Promise<ResolvedAddress[]> => {
      throw new Error("ENOTFOUND");
    };
    const errors = [
      await refusal(guardedFetch(`${origin}/doc`, trusted({ resolve: failing }))),
      await refusal(guardedFetch(`${origin}/doc`, trusted({ resolve: scriptedResolver([]).resolve }))),
      await refusal(guardedFetch(`${origin}/doc`, trusted({ resolve: scriptedResolver(["10.0.0.1"]).resolve }))),
    ];
    expect(errors.map((e) => e.code)).toEqual(["unresolvable", "unresolvable", "address_refused"]);
    for (const err of errors) expect(err.message).toBe("the host localhost is not reachable on a public address");
    const literal = await refusal(guardedFetch(`https://10.0.0.7:${port}/doc`, trusted()));
    expect(literal.message).toBe("the host 10.0.0.7 is not reachable on a public address");
    expect(new Set(errors.map((e) => e.detail)).size).toBe(3);
  });

  it("refuses http, and an http redirect", async () => {
    expect((await refusal(guardedFetch(`http://127.0.0.1:${port}/doc`, trusted({ allowLoopback: true })))).code).toBe("not_https");
    expect((await refusal(guardedFetch(`${origin}/to-http`, trusted({ allowLoopback: true })))).code).toBe("not_https");
  });

  it("DNS rebinding: the host is resolved once per connection and the checked address is the one connected to", async () => {
    // Allowed first, private afterwards: a client that looked up again to connect would go to 10.0.0.1.
    const rebinding = scriptedResolver(["127.0.0.1"], ["10.0.0.1"]);
    const res = await guardedFetch(`${origin}/doc`, trusted({ allowLoopback: true, resolve: rebinding.resolve }));
    expect(res.body.toString()).toBe('{"ok":true}');
    expect(rebinding.lookups).toEqual(["localhost"]);
    // The next fetch resolves again, gets the private answer, and is refused.
    expect((await refusal(guardedFetch(`${origin}/doc`, trusted({ allowLoopback: true, resolve: rebinding.resolve })))).code).toBe("address_refused");
    expect(rebinding.lookups).toEqual(["localhost", "localhost"]);
  });

  it("DNS rebinding across a redirect: each hop is resolved and checked again", async () => {
    hits.clear();
    const rebinding = scriptedResolver(["127.0.0.1"], ["192.168.0.10"]);
    expect((await refusal(guardedFetch(`${origin}/hop/0`, trusted({ allowLoopback: true, resolve: rebinding.resolve })))).code).toBe("address_refused");
    expect(rebinding.lookups).toEqual(["localhost", "localhost"]);
    expect(hits.get("/doc")).toBeUndefined();
  });

  it("refuses a redirect to a private address: an IP literal, a name resolving to one, an IPv4-mapped metadata address", async () => {
    const { resolve } = scriptedResolver(["127.0.0.1"]);
    const privateName = async (host: string): Promise<ResolvedAddress[]> => (host === "private.localhost" ? [{ address: "10.0.0.7", family: 4 }] : resolve(host));
    for (const path of ["/to-private-literal", "/to-private-name", "/to-mapped"]) {
      expect((await refusal(guardedFetch(`${origin}${path}`, trusted({ allowLoopback: true, resolve: privateName })))).code, path).toBe("address_refused");
    }
  });

  it("follows 3 redirects and refuses a 4th", async () => {
    const three = await guardedFetch(`${origin}/hop/2`, trusted({ allowLoopback: true }));
    expect(three.status).toBe(200);
    expect(three.url.pathname).toBe("/doc");
    expect((await refusal(guardedFetch(`${origin}/hop/3`, trusted({ allowLoopback: true })))).code).toBe("too_many_redirects");
  });

  it("drops a connection mid-body without an unhandled error: a redirect followed before its body ended, a declared oversized body", async () => {
    expect((await guardedFetch(`${origin}/redirect-with-slow-body`, trusted({ allowLoopback: true }))).body.toString()).toBe('{"ok":true}');
    expect((await refusal(guardedFetch(`${origin}/oversized-declared-slow`, trusted({ allowLoopback: true })))).code).toBe("too_large");
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // any late error event would surface as an unhandled error of this file
  });

  it("caps the body at 5 KiB, counted on the bytes received", async () => {
    expect((await guardedFetch(`${origin}/exactly-5-kib`, trusted({ allowLoopback: true }))).body.length).toBe(5 * 1024);
    expect((await refusal(guardedFetch(`${origin}/oversized-chunked`, trusted({ allowLoopback: true })))).code).toBe("too_large");
    expect((await refusal(guardedFetch(`${origin}/oversized-declared`, trusted({ allowLoopback: true })))).code).toBe("too_large");
  });

  it("gives up after 5 s: a server that never answers, and one that drips its body", async () => {
    for (const path of ["/silent", "/drip"]) {
      const started = Date.now();
      expect((await refusal(guardedFetch(`${origin}${path}`, trusted({ allowLoopback: true })))).code, path).toBe("timeout");
      expect(Date.now() - started, path).toBeGreaterThanOrEqual(4_900);
    }
  });

  it("does not trust a certificate outside the system's roots and the given CA", async () => {
    expect((await refusal(guardedFetch(`${origin}/doc`, { allowLoopback: true }))).code).toBe("unreachable");
  });
});
