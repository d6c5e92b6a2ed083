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
    const verifier = new JwtVerifier({ key: { kind: "jwks", url: jwksUrl }, issuer: null, audience: null, now: () => NOW });
    expect(await verifier.verify(await sign(keys.privateKey))).toEqual({ ok: true, userId: "bob" });
    expect(await verifier.verify(await sign(other.privateKey))).toEqual({ ok: false, status: "invalid" });
    expect(await verifier.verify(await sign(other.privateKey, {}, "unknown-kid"))).toEqual({ ok: false, status: "invalid" });
  });

  it("verifies against a PEM public key, and refuses an HS256 token signed with that key's text", async () => {
    const pem = await exportSPKI(keys.publicKey);
    const verifier = new JwtVerifier({ key: { kind: "public_key", pem, algorithm: "RS256" }, issuer: null, audience: null, now: () => NOW });
    expect(await verifier.verify(await sign(keys.privateKey))).toEqual({ ok: true, userId: "bob" });
    // Algorithm confusion: the public key used as an HMAC secret.
    const confused = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("bob").setExpirationTime(NOW + 600).sign(new TextEncoder().encode(pem));
    expect(await verifier.verify(confused)).toEqual({ ok: false, status: "invalid" });
  });

  it("says the key server is unavailable, rather than that the token is bad, when JWKS cannot be fetched", async () => {
    const verifier = new JwtVerifier({ key: { kind: "jwks", url: "http://127.0.0.1:1/jwks.json" }, issuer: null, audience: null, now: () => NOW });
    await expect(verifier.verify(await sign(keys.privateKey))).rejects.toBeInstanceOf(BackendUnavailableError);
  });

  it("rejects a session without a subject", async () => {
    const verifier = new JwtVerifier({ key: { kind: "jwks", url: jwksUrl }, issuer: null, audience: null, now: () => NOW });
    const noSub = await new SignJWT({}).setProtectedHeader({ alg: "RS256", kid: "k1" }).setExpirationTime(NOW + 600).sign(keys.privateKey);
    expect(await verifier.verify(noSub)).toEqual({ ok: false, status: "invalid" });
  });
});
