// Two replicas (two Tollgate instances, each with its own MongoDB connection) sharing one
// FerretDB database and one public URL: a flow may hop between them, and single-use holds
// across them: of 50 concurrent redemptions of one code exactly one gets tokens.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMongo, type MongoServer } from "../support/servers.js";
import { authorizePath, Browser, consentForm, mcpCall, pkce, register, startOAuthServer, stopDemoUpstream, tokenRequest, REDIRECT_URI, type OAuthServer } from "./support.js";

let mongo: MongoServer;
let a: OAuthServer;
let b: OAuthServer;

beforeAll(async () => {
  mongo = await startMongo();
  // A loaded machine answers slowly: facts wait longer than the 1 s default before counting MongoDB down.
  const env = { MONGODB_URI: mongo.uri, MONGODB_DB: `${mongo.dbName}_oauth`, TOLLGATE_MONGODB_TIMEOUT_MS: "20000" };
  a = await startOAuthServer({ env });
  b = await startOAuthServer({ env, seed: false, publicUrl: a.url });
});

afterAll(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
  await stopDemoUpstream();
  await mongo?.stop();
});

/** Registered on A; authorization started on B, consent on A, resumed on B: every step on the shared store. */
async function codeAcrossReplicas() {
  const client = await register(a.url);
  const { verifier, challenge } = pkce();
  const resource = a.mcpResource("priv");
  const onA = new Browser(a.url, "bob");
  const onB = new Browser(b.url, "bob");
  const start = await onB.request(authorizePath({ client_id: client.client_id, resource, code_challenge: challenge }));
  expect(start.status, start.body).toBe(303);
  for (const [k, v] of onB.cookies) onA.cookies.set(k, v);
  const page = await onA.request(start.location!.pathname + start.location!.search);
  expect(page.status, page.body).toBe(200);
  const decided = await onA.post("/ui/consent", { ...consentForm(page.body), decision: "allow", expires_in: String(86_400) });
  expect(decided.status, decided.body).toBe(303);
  for (const [k, v] of onA.cookies) onB.cookies.set(k, v);
  const back = await onB.request(decided.location!.pathname + decided.location!.search);
  expect(back.status, back.body).toBe(303);
  const code = back.location!.searchParams.get("code");
  expect(code, back.location!.href).toBeTruthy();
  return { client, verifier, resource, code: code! };
}

describe("two replicas on one FerretDB", () => {
  it("50 concurrent redemptions of one code, half on each replica: exactly one gets tokens, the others invalid_grant", async () => {
    const c = await codeAcrossReplicas();
    const form = { grant_type: "authorization_code", code: c.code, redirect_uri: REDIRECT_URI, client_id: c.client.client_id, code_verifier: c.verifier, resource: c.resource };
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => tokenRequest((i % 2 ? b : a).url, form)));
    const won = results.filter((r) => r.status === 200);
    expect(won).toHaveLength(1);
    for (const r of results.filter((r) => r.status !== 200)) expect(r.body).toMatchObject({ error: "invalid_grant" });
    const records = (await a.tollgate.facts.tokenStore.listByUser("bob")).filter((r) => r.oauth?.client_id === c.client.client_id);
    expect(records).toHaveLength(1);
  });

  it("20 concurrent refreshes of one refresh token across the replicas: at most one rotation succeeds, and the reuse revokes the family", async () => {
    const c = await codeAcrossReplicas();
    const first = await tokenRequest(b.url, { grant_type: "authorization_code", code: c.code, redirect_uri: REDIRECT_URI, client_id: c.client.client_id, code_verifier: c.verifier, resource: c.resource });
    expect(first.status).toBe(200);
    expect((await mcpCall(a.url, "priv", first.body.access_token)).status).toBe(200);
    expect((await mcpCall(b.url, "priv", first.body.access_token)).status).toBe(200);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => tokenRequest((i % 2 ? b : a).url, { grant_type: "refresh_token", refresh_token: first.body.refresh_token, client_id: c.client.client_id })));
    expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(1);
    for (const r of results.filter((r) => r.status !== 200)) expect(r.body).toMatchObject({ error: "invalid_grant" });
    // The family is revoked: no refresh token of it works any more.
    for (const r of results.filter((r) => r.status === 200)) {
      expect((await tokenRequest(a.url, { grant_type: "refresh_token", refresh_token: r.body.refresh_token, client_id: c.client.client_id })).body).toMatchObject({ error: "invalid_grant" });
    }
  });
});
