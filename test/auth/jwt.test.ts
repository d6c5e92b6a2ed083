import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JwtVerifier } from "../../src/auth/jwt.js";
import { BackendUnavailableError } from "../../src/stores/types.js";

const NOW = 1_800_000_000;
let keys: { publicKey: CryptoKey; privateKey: CryptoKey };
let other: { publicKey: CryptoKey; privateKey: CryptoKey };
let jwks: Server;
let jwksUrl: string;

const sign = (key: CryptoKey, claims: Record<string, unknown> = {}, kid = "k1") =>
  new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid }).setSubject("bob").setIssuedAt(NOW - 10).setExpirationTime(NOW + 600).sign(key);

beforeAll(async () => {
  keys = await generateKeyPair("RS256", { extractable: true });
  other = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  jwks = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
});
afterAll(() => new Promise((resolve) => jwks.close(resolve)));

describe("session JWTs with public keys", () => {
  it("verifies RS256 sessions against a JWKS endpoint and rejects other keys", async () => {
    const verifier = new JwtVerifier({ key: { kind: "jwks", url: jwksUrl }, issuer: null, audience: null, maxTtlS: 86_400, now: () => NOW });
    expect(await verifier.verify(await sign(keys.privateKey))).toEqual({ ok: true, userId: "bob" });
    expect(await verifier.verify(await sign(other.privateKey))).toEqual({ ok: false, status: "invalid" });
    expect(await verifier.verify(await sign(other.privateKey, {}, "unknown-kid"))).toEqual({ ok: false, status: "invalid" });
  });

  it("verifies against a PEM public key, and refuses an HS256 token signed with that key's text", async () => {
    const pem = await exportSPKI(keys.publicKey);
    const verifier = new JwtVerifier({ key: { kind: "public_key", pem, algorithm: "RS256" }, issuer: null, audience: null, maxTtlS: 86_400, now: () => NOW });
    expect(await verifier.verify(await sign(keys.privateKey))).toEqual({ ok: true, userId: "bob" });
    // Algorithm confusion: the public key used as an HMAC secret.
    const confused = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("bob").setExpirationTime(NOW + 600).sign(new TextEncoder().encode(pem));
    expect(await verifier.verify(confused)).toEqual({ ok: false, status: "invalid" });
  });

  it("says the key server is unavailable, rather than that the token is bad, when JWKS cannot be fetched", async () => {
    const verifier = new JwtVerifier({ key: { kind: "jwks", url: "http://127.0.0.1:1/jwks.json" }, issuer: null, audience: null, maxTtlS: 86_400, now: () => NOW });
    await expect(verifier.verify(await sign(keys.privateKey))).rejects.toBeInstanceOf(BackendUnavailableError);
  });

  it("rejects a session without a subject", async () => {
    const verifier = new JwtVerifier({ key: { kind: "jwks", url: jwksUrl }, issuer: null, audience: null, maxTtlS: 86_400, now: () => NOW });
    const noSub = await new SignJWT({}).setProtectedHeader({ alg: "RS256", kid: "k1" }).setExpirationTime(NOW + 600).sign(keys.privateKey);
    expect(await verifier.verify(noSub)).toEqual({ ok: false, status: "invalid" });
  });
});

describe("session claims", () => {
  const SECRET = "jwt-claims-secret-0123456789-0123456789";
  const MAX_TTL = 86_400;
  const verifier = new JwtVerifier({ key: { kind: "secret", secret: SECRET }, issuer: null, audience: null, maxTtlS: MAX_TTL, now: () => NOW });
  /** Signs exactly the given claims: nothing is added, so a missing claim stays missing. */
  const raw = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(SECRET));
  const withSub = (sub: unknown) => raw({ sub, iat: NOW - 10, exp: NOW + 600 });
  const invalid = { ok: false, status: "invalid" };

  it("admits the subjects identity providers issue", async () => {
    for (const sub of ["bob", "auth0|abc123", "google-oauth2|1234", "jane.doe+ci@example.com", "a", "!#$%&'()*+-.:<=>?@[]^_`{|}~", "x".repeat(255)]) {
      expect(await verifier.verify(await withSub(sub)), sub).toEqual({ ok: true, userId: sub });
    }
  });

  it("refuses a subject outside the user-id alphabet", async () => {
    const refused = [
      "",
      "x".repeat(256),
      "x".repeat(490),
      "x".repeat(491),
      "x".repeat(5000),
      "jürgen",
      "用户",
      "emoji😀",
      "tab\there",
      "nl\nx",
      "nul\u0000x",
      "del\u007fx",
      "space here",
      "a/b",
      "a\\b",
      "a,b",
      "a;b",
      'a"b',
      42,
      ["bob"],
    ];
    for (const sub of refused) expect(await verifier.verify(await withSub(sub)), JSON.stringify(sub)).toEqual(invalid);
  });

  it("refuses a session without exp", async () => {
    expect(await verifier.verify(await raw({ sub: "bob", iat: NOW - 10 }))).toEqual(invalid);
    expect(await verifier.verify(await raw({ sub: "bob" }))).toEqual(invalid);
  });

  it("tolerates iat and nbf up to 60 s ahead, not more", async () => {
    expect(await verifier.verify(await raw({ sub: "bob", iat: NOW + 59, exp: NOW + 600 }))).toEqual({ ok: true, userId: "bob" });
    expect(await verifier.verify(await raw({ sub: "bob", iat: NOW + 60, exp: NOW + 600 }))).toEqual({ ok: true, userId: "bob" });
    expect(await verifier.verify(await raw({ sub: "bob", iat: NOW + 61, exp: NOW + 600 }))).toEqual(invalid);
    expect(await verifier.verify(await raw({ sub: "bob", nbf: NOW + 59, exp: NOW + 600 }))).toEqual({ ok: true, userId: "bob" });
    expect(await verifier.verify(await raw({ sub: "bob", nbf: NOW + 60, exp: NOW + 600 }))).toEqual({ ok: true, userId: "bob" });
    expect(await verifier.verify(await raw({ sub: "bob", nbf: NOW + 61, exp: NOW + 600 }))).toEqual(invalid);
  });

  it("refuses a lifetime over the maximum: exp - iat, or exp - now without iat", async () => {
    expect(await verifier.verify(await raw({ sub: "bob", iat: NOW - 100, exp: NOW - 100 + MAX_TTL }))).toEqual({ ok: true, userId: "bob" });
    expect(await verifier.verify(await raw({ sub: "bob", iat: NOW - 100, exp: NOW - 100 + MAX_TTL + 1 }))).toEqual(invalid);
    expect(await verifier.verify(await raw({ sub: "bob", exp: NOW + MAX_TTL }))).toEqual({ ok: true, userId: "bob" });
    expect(await verifier.verify(await raw({ sub: "bob", exp: NOW + MAX_TTL + 1 }))).toEqual(invalid);
    // An early iat cannot stretch what is left: the lifetime counts from iat.
    expect(await verifier.verify(await raw({ sub: "bob", iat: NOW - MAX_TTL, exp: NOW + 60 }))).toEqual(invalid);
  });

  it("keeps expiry exact: expired at exp, not a second later", async () => {
    expect(await verifier.verify(await raw({ sub: "bob", iat: NOW - 600, exp: NOW }))).toEqual({ ok: false, status: "expired" });
    expect(await verifier.verify(await raw({ sub: "bob", iat: NOW - 600, exp: NOW - 30 }))).toEqual({ ok: false, status: "expired" });
    expect(await verifier.verify(await raw({ sub: "bob", iat: NOW - 600, exp: NOW + 1 }))).toEqual({ ok: true, userId: "bob" });
  });
});
