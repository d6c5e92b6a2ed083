// The authorization server while its shared store is down (docs/oauth.md "When a store is
// unavailable"): real FerretDB and redis-server, stopped mid-test. Every endpoint fails closed
// with 503 temporarily_unavailable and Retry-After (the authorization endpoint: a redirect with
// that error when the client can still be loaded), issues nothing, shows no stack trace, and
// logs the outage once per request.
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKEND_RETRY_AFTER_S } from "../../src/errors.js";
import { startFerretDb, startRedis, type MongoServer, type RedisServer } from "../support/servers.js";
import { testCa } from "../support/test-ca.js";
import { startDocumentServer, type DocumentServer } from "./document-server.js";
import { authorizePath, authorizeWithConsent, Browser, issueTokens, pkce, REDIRECT_URI, startOAuthServer, stopDemoUpstream, type Answer, type OAuthServer } from "./support.js";

const OUTAGE_LOG = "oauth: backend unavailable; answered temporarily_unavailable";

/** A client identified by its Client ID Metadata Document (loaded without the store), and the documents' server. */
let docs: DocumentServer;
let documentClientId: string;
/** Tollgate's settings for loopback documents signed by the test CA. */
const DOCUMENT_CLIENTS = { env: { TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS: "true" }, clientDocumentsCa: testCa().ca };

beforeAll(async () => {
  docs = await startDocumentServer();
  documentClientId = docs.url("/agent/client.json");
  docs.set("/agent/client.json", { body: { client_id: documentClientId, client_name: "Doc Agent", redirect_uris: [REDIRECT_URI] }, headers: { "cache-control": "max-age=300" } });
});

afterAll(async () => {
  await docs?.close();
});

/** Tollgate's log lines, as parsed JSON. */
function capturedLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n")) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: "info" }, sink), lines };
}

async function post(base: string, path: string, form: Record<string, string>): Promise<Answer> {
  return new Browser(base).request(path, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString() });
}

/** 503, Retry-After, RFC 6749's temporarily_unavailable with a description, nothing issued, no trace. */
function expectTemporarilyUnavailable(answer: { status: number; headers: Headers; body: string }): void {
  expect(answer.status, answer.body).toBe(503);
  expect(answer.headers.get("retry-after")).toBe(String(BACKEND_RETRY_AFTER_S));
  expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
  expect(answer.headers.get("cache-control")).toMatch(/no-store/);
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  expect(body.error).toBe("temporarily_unavailable");
  expect(body.error_description).toMatch(/unavailable; try again/);
  expect(body).not.toHaveProperty("access_token");
  expect(body).not.toHaveProperty("refresh_token");
  expect(body).not.toHaveProperty("client_id");
  expect(answer.body).not.toMatch(/\n\s+at |server_error|Topology|ECONNREFUSED/);
}

/** Everything a test needs from before the outage: live tokens, a code not yet redeemed, an authorization waiting at the consent page. */
async function beforeOutage(as: OAuthServer) {
  const issued = await issueTokens(as, "bob");
  const { verifier, challenge } = pkce();
  const back = await authorizeWithConsent(new Browser(as.url, "bob"), { client_id: issued.client.client_id, resource: issued.resource, code_challenge: challenge });
  const code = back.searchParams.get("code")!;
  expect(code).toBeTruthy();
  const waiting = new Browser(as.url, "bob");
  const start = await waiting.request(authorizePath({ client_id: issued.client.client_id, resource: issued.resource, code_challenge: challenge }));
  expect(start.status, start.body).toBe(303);
  // The document client is fetched (and cached for its max-age) before the outage: a cache miss
  // during it would be counted on the document-fetch limiter, which is on the stopped Redis.
  const warm = await new Browser(as.url, "bob").request(authorizePath({ client_id: documentClientId, resource: issued.resource, code_challenge: challenge }));
  expect(warm.status, warm.body).toBe(303);
  return { issued, code, verifier, waiting, consentPage: start.location! };
}

/** Each OAuth endpoint answers temporarily_unavailable while the store is down, and logs it exactly once. */
async function expectEveryEndpointRefuses(as: OAuthServer, before: Awaited<ReturnType<typeof beforeOutage>>, lines: Array<Record<string, unknown>>): Promise<void> {
  const { issued } = before;
  const client_id = issued.client.client_id;
  const requests: Array<[string, () => Promise<Answer>]> = [
    ["/oauth/token", () => post(as.url, "/oauth/token", { grant_type: "refresh_token", refresh_token: issued.refresh_token, client_id })],
    ["/oauth/token", () => post(as.url, "/oauth/token", { grant_type: "authorization_code", code: before.code, redirect_uri: REDIRECT_URI, client_id, code_verifier: before.verifier, resource: issued.resource })],
    ["/oauth/authorize", () => new Browser(as.url, "bob").request(authorizePath({ client_id, resource: issued.resource, code_challenge: pkce().challenge }))],
    ["/oauth/revoke", () => post(as.url, "/oauth/revoke", { token: issued.access_token, token_type_hint: "access_token", client_id })],
    [
      "/oauth/register",
      () =>
        new Browser(as.url).request("/oauth/register", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ redirect_uris: [REDIRECT_URI], client_name: "During the outage", grant_types: ["authorization_code", "refresh_token"], token_endpoint_auth_method: "none", application_type: "native" }),
        }),
    ],
  ];
  // A client that can still be loaded is sent back to its redirect_uri (RFC 6749 §4.1.2.1).
  const logged = lines.length;
  const redirected = await new Browser(as.url, "bob").request(authorizePath({ client_id: documentClientId, resource: issued.resource, code_challenge: pkce().challenge, state: "st-outage" }));
  expect(redirected.status, redirected.body).toBe(303);
  expect(redirected.location!.href.startsWith(`${REDIRECT_URI}?`), redirected.location!.href).toBe(true);
  expect(redirected.location!.searchParams.get("error")).toBe("temporarily_unavailable");
  expect(redirected.location!.searchParams.get("state")).toBe("st-outage");
  expect(redirected.location!.searchParams.has("code")).toBe(false);
  expect(lines.slice(logged).filter((l) => l.msg === OUTAGE_LOG)).toMatchObject([{ path: "/oauth/authorize", status: 303 }]);

  for (const [path, request] of requests) {
    const logged = lines.length;
    expectTemporarilyUnavailable(await request());
    const outageLines = lines.slice(logged).filter((l) => l.msg === OUTAGE_LOG);
    expect(outageLines, `${path}: ${JSON.stringify(lines.slice(logged))}`).toHaveLength(1);
    expect(outageLines[0]).toMatchObject({ path });
    expect(lines.slice(logged).filter((l) => l.msg === "oauth: server error")).toHaveLength(0);
  }

  // The consent page: a page for the person, 503 with Retry-After, no decision.
  const beforePage = lines.length;
  const page = await before.waiting.request(before.consentPage);
  expect(page.status, page.body).toBe(503);
  expect(page.headers.get("retry-after")).toBe(String(BACKEND_RETRY_AFTER_S));
  expect(page.headers.get("content-type")).toMatch(/^text\/html/);
  expect(page.body).toContain("a backend Tollgate needs is unavailable; try again");
  expect(page.body).not.toMatch(/\n\s+at |Topology|ECONNREFUSED/);
  expect(lines.slice(beforePage).filter((l) => l.level === 50)).toHaveLength(1);
}

describe("the authorization server with its MongoDB (FerretDB) store stopped", () => {
  let mongo: MongoServer;
  let as: OAuthServer;
  const { logger, lines } = capturedLogger();

  beforeAll(async () => {
    mongo = await startFerretDb();
    as = await startOAuthServer({ env: { MONGODB_URI: mongo.uri, MONGODB_DB: mongo.dbName, TOLLGATE_MONGODB_TIMEOUT_MS: "20000", ...DOCUMENT_CLIENTS.env }, clientDocumentsCa: DOCUMENT_CLIENTS.clientDocumentsCa, logger });
  });

  afterAll(async () => {
    await as?.close();
    await stopDemoUpstream();
    await mongo?.stop();
  });

  it("answers 503 temporarily_unavailable with Retry-After on every endpoint, issues nothing, and logs each once", async () => {
    const before = await beforeOutage(as);
    await mongo.stop();
    await expectEveryEndpointRefuses(as, before, lines);
  });
});

describe("the authorization server with its Redis store stopped", () => {
  let redis: RedisServer;
  let as: OAuthServer;
  const { logger, lines } = capturedLogger();

  beforeAll(async () => {
    redis = await startRedis();
    as = await startOAuthServer({ env: { REDIS_URL: redis.url, TOLLGATE_REDIS_NAMESPACE: "oauth-outage", TOLLGATE_REDIS_TIMEOUT_MS: "2000", ...DOCUMENT_CLIENTS.env }, clientDocumentsCa: DOCUMENT_CLIENTS.clientDocumentsCa, logger });
  });

  afterAll(async () => {
    await as?.close();
    await stopDemoUpstream();
    await redis?.stop();
  });

  it("answers 503 temporarily_unavailable with Retry-After on every endpoint, issues nothing, and logs each once", async () => {
    const before = await beforeOutage(as);
    await redis.stop();
    // /oauth/register fails here at its rate limit (on Redis too), before the provider: the same answer.
    await expectEveryEndpointRefuses(as, before, lines);
  });
});
