// The relying party's checks one by one, against a hand-made provider whose token endpoint
// answers whatever ID token the test signs: every claim that must be refused is refused.
import { createServer, type Server } from "node:http";
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RequestError } from "../../src/errors.js";
import { OidcSignIn, type PendingSignIn } from "../../src/ui/oidc.js";
import { listen, stopServer } from "../gateway/helpers.js";
import { CLOSED_PORT } from "../support/servers.js";

const CLIENT = { clientId: "tollgate", clientSecret: "s3cret:&x", redirectUri: "https://tollgate.example/oauth/callback" };

let server: Server;
let issuer: string;
let privateKey: CryptoKey;
let jwk: JWK;
/** What the token endpoint answers next, and what it was sent. */
let answer: { status: number; body: unknown };
let received: { authorization?: string; form: URLSearchParams } | undefined;
let discoveryIssuer: string | undefined;

beforeAll(async () => {
  const pair = await generateKeyPair("RS256");
  privateKey = pair.privateKey;
  jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  server = createServer((req, res) => {
    const json = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (req.url === "/.well-known/openid-configuration") {
      return json(200, {
        issuer: discoveryIssuer ?? issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        id_token_signing_alg_values_supported: ["RS256", "HS256"],
      });
    }
    if (req.url === "/jwks") return json(200, { keys: [jwk] });
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      received = { ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), form: new URLSearchParams(body) };
      json(answer.status, answer.body);
    });
  });
  issuer = await listen(server);
});
afterAll(() => stopServer(server));

let rp: OidcSignIn;
let pending: PendingSignIn;
beforeEach(async () => {
  discoveryIssuer = undefined;
  received = undefined;
  rp = new OidcSignIn({ issuer, ...CLIENT });
  pending = (await rp.begin("/ui/tokens")).pending;
});

const now = () => Math.floor(Date.now() / 1000);
/** An ID token with the good claims, overridden by `claims`. */
function idToken(claims: Record<string, unknown> = {}, alg = "RS256"): Promise<string> {
  const payload = { iss: issuer, aud: CLIENT.clientId, sub: "bob", nonce: pending.nonce, iat: now(), exp: now() + 300, ...claims };
  const jwt = new SignJWT(payload).setProtectedHeader({ alg, kid: "k1" });
  return alg === "HS256" ? jwt.sign(new TextEncoder().encode(CLIENT.clientSecret.padEnd(32, "x"))) : jwt.sign(privateKey);
}

async function completeWith(token: string | Promise<string>): Promise<string> {
  answer = { status: 200, body: { id_token: await token, access_token: "a", token_type: "Bearer" } };
  return rp.complete({ code: "the-code", state: pending.state }, pending);
}

async function refusal(p: Promise<unknown>): Promise<RequestError> {
  const err = await p.then(
    () => expect.unreachable("expected a refusal"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RequestError);
  return err as RequestError;
}

describe("the ID token", () => {
  it("gives its sub when every check passes, after a token request with the verifier and client_secret_basic", async () => {
    expect(await completeWith(idToken())).toBe("bob");
    expect(Object.fromEntries(received!.form)).toEqual({ grant_type: "authorization_code", code: "the-code", redirect_uri: CLIENT.redirectUri, code_verifier: pending.verifier });
    expect(received!.authorization).toBe(`Basic ${Buffer.from("tollgate:s3cret%3A%26x").toString("base64")}`);
  });

  it.each([
    ["another nonce", { nonce: "x".repeat(43) }],
    ["no nonce", { nonce: undefined }],
    ["another audience", { aud: "someone-else" }],
    ["several audiences without azp", { aud: ["tollgate", "other"] }],
    ["another issuer", { iss: "https://evil.example" }],
    ["an expired token", { exp: now() - 120, iat: now() - 600 }],
    ["a sub that is not a user id", { sub: "has space" }],
  ])("refuses %s", async (_name, claims) => {
    expect((await refusal(completeWith(idToken(claims)))).code).toBe("invalid_request");
  });

  it("refuses a token signed with the client secret (HS256) though the provider lists it", async () => {
    expect((await refusal(completeWith(idToken({}, "HS256")))).message).toMatch(/ID token does not verify/);
  });

  it("refuses an unsigned token (alg none)", async () => {
    const header = Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url");
    const payload = Buffer.from(JSON.stringify({ iss: issuer, aud: CLIENT.clientId, sub: "bob", nonce: pending.nonce, iat: now(), exp: now() + 300 })).toString("base64url");
    expect((await refusal(completeWith(`${header}.${payload}.`))).code).toBe("invalid_request");
  });
});

describe("the exchange and the provider", () => {
  it("refuses the answer when the token endpoint refuses the code", async () => {
    answer = { status: 400, body: { error: "invalid_grant" } };
    expect((await refusal(rp.complete({ code: "used", state: pending.state }, pending))).message).toMatch(/token endpoint answered 400 invalid_grant/);
  });

  it("refuses a missing code or an answer without a sign-in under way, before calling the provider", async () => {
    await refusal(rp.complete({ state: pending.state }, pending));
    await refusal(rp.complete({ code: "c", state: pending.state }, null));
    expect(received).toBeUndefined();
  });

  it("answers 503 when discovery names another issuer, and tries discovery again next time", async () => {
    discoveryIssuer = "https://evil.example";
    const fresh = new OidcSignIn({ issuer, ...CLIENT });
    const err = await refusal(fresh.begin("/ui/tokens"));
    expect(err.code).toBe("backend_unavailable");
    discoveryIssuer = undefined;
    expect((await fresh.begin("/ui/tokens")).location).toMatch(new RegExp(`^${issuer}/authorize\\?`));
  });

  it("answers 503 when the provider cannot be reached", async () => {
    const down = new OidcSignIn({ issuer: `http://127.0.0.1:${CLOSED_PORT}`, ...CLIENT });
    expect((await refusal(down.begin("/ui/tokens"))).code).toBe("backend_unavailable");
  });
});
