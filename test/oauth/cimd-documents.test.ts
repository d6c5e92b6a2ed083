// Client ID Metadata Documents: what a document must be to describe a client, what Tollgate hands
// the provider, and the cache (RFC 9111 headers, bounded; refusals remembered briefly), against a
// real https server on loopback with the test CA.
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/config.js";
import { ClientMetadataDocumentRefused, ClientMetadataDocuments, isClientIdMetadataDocumentUrl, MAX_CONCURRENT_FETCHES } from "../../src/oauth/client-metadata-documents.js";
import { MemoryRateLimiter } from "../../src/stores/memory/rate-limiter.js";
import { sleep } from "../gateway/helpers.js";
import { JWT_SECRET } from "../http/fixture.js";
import { testCa } from "../support/test-ca.js";
import { startDocumentServer, type DocumentServer } from "./document-server.js";

let docs: DocumentServer;
let counter = 0;

const documents = (): ClientMetadataDocuments => new ClientMetadataDocuments({ allowLoopback: true, extraCa: testCa().ca, logger: pino({ level: "silent" }) });

/** A fresh path with a document for it (a good one, changed by `patch`; `undefined` values removed). */
function publish(patch: Record<string, unknown> = {}, headers: Record<string, string> = {}): string {
  const path = `/clients/${++counter}.json`;
  const url = docs.url(path);
  const body: Record<string, unknown> = { client_id: url, client_name: "Doc Agent", redirect_uris: ["http://127.0.0.1:53682/callback"], ...patch };
  for (const [k, v] of Object.entries(body)) if (v === undefined) delete body[k];
  docs.set(path, { body, headers });
  return url;
}

async function refusal(promise: Promise<unknown>): Promise<ClientMetadataDocumentRefused> {
  const err = await promise.then(
    () => new Error("the document was accepted"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClientMetadataDocumentRefused);
  return err as ClientMetadataDocumentRefused;
}

beforeAll(async () => {
  docs = await startDocumentServer();
});

afterAll(async () => {
  await docs.close();
});

describe("a Client ID Metadata Document", () => {
  it("becomes a public client: Tollgate's fields only, token_endpoint_auth_method none, client_uri the client_id's origin", async () => {
    const url = publish({ client_uri: "https://famous-assistant.example", logo_uri: "https://x.example/l.png", jwks_uri: "https://x.example/jwks", scope: "mcp:read openid", grant_types: ["authorization_code"], extra: 1 });
    expect(await documents().clientMetadata(url)).toEqual({
      client_id: url,
      client_name: "Doc Agent",
      client_uri: docs.origin,
      redirect_uris: ["http://127.0.0.1:53682/callback"],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      application_type: "web",
      scope: "mcp:read",
    });
  });

  it("defaults to the authorization_code and refresh_token grants, and takes token_endpoint_auth_method none and a native app's private-use scheme", async () => {
    const url = publish({ token_endpoint_auth_method: "none", application_type: "native", redirect_uris: ["com.example.agent:/callback", "http://[::1]:4000/cb"] });
    expect(await documents().clientMetadata(url)).toMatchObject({ grant_types: ["authorization_code", "refresh_token"], application_type: "native", redirect_uris: ["com.example.agent:/callback", "http://[::1]:4000/cb"] });
  });

  it.each([
    ["a client_id that is not its URL", { client_id: "https://elsewhere.example/client.json" }, "client_id_mismatch", /client_id is not the URL/],
    ["client_secret", { client_secret: "s3cret" }, "client_secret", /client_secret/],
    ["client_secret_expires_at", { client_secret_expires_at: 0 }, "client_secret", /client_secret/],
    ["client_secret_basic", { token_endpoint_auth_method: "client_secret_basic" }, "client_secret", /client_secret_basic/],
    ["client_secret_post", { token_endpoint_auth_method: "client_secret_post" }, "client_secret", /client_secret_post/],
    ["client_secret_jwt", { token_endpoint_auth_method: "client_secret_jwt" }, "client_secret", /client_secret_jwt/],
    ["private_key_jwt", { token_endpoint_auth_method: "private_key_jwt" }, "bad_document", /"none"/],
    ["no client_name", { client_name: undefined }, "bad_document", /client_name/],
    ["a blank client_name", { client_name: "  " }, "bad_document", /client_name/],
    ["a client_name with control characters", { client_name: "Agent\u0007" }, "bad_document", /client_name/],
    ["a client_name over 100 characters", { client_name: "x".repeat(101) }, "bad_document", /client_name/],
    ["no redirect_uris", { redirect_uris: undefined }, "bad_document", /redirect_uris/],
    ["empty redirect_uris", { redirect_uris: [] }, "bad_document", /redirect_uris/],
    ["an http redirect URI to another host", { redirect_uris: ["http://evil.example/cb"] }, "bad_document", /loopback/],
    ["a javascript: redirect URI", { redirect_uris: ["javascript:alert(1)"] }, "bad_document", /redirect_uris/],
    ["a redirect URI with a fragment", { redirect_uris: ["https://app.example/cb#x"] }, "bad_document", /fragment/],
    ["a private-use scheme for a web app", { redirect_uris: ["com.example.agent:/callback"] }, "bad_document", /redirect_uris/],
    ["the implicit grant", { grant_types: ["authorization_code", "implicit"] }, "bad_document", /grant_types/],
    ["no authorization_code grant", { grant_types: ["refresh_token"] }, "bad_document", /grant_types/],
    ["response_types token", { response_types: ["token"] }, "bad_document", /response_types/],
    ["a scope with none of Tollgate's", { scope: "openid profile" }, "bad_document", /scope/],
  ])("refuses a document with %s", async (_what, patch, code, description) => {
    const err = await refusal(documents().clientMetadata(publish(patch)));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(description);
  });

  it("is accepted only from exactly its client_id URL: a redirect elsewhere is refused, even to a document naming that client_id", async () => {
    const target = publish();
    const clientId = docs.url("/clients/moved.json");
    docs.set("/clients/moved.json", { status: 301, headers: { location: target } });
    docs.set(new URL(target).pathname, { body: { client_id: clientId, client_name: "Doc Agent", redirect_uris: ["http://127.0.0.1:53682/callback"] } });
    const err = await refusal(documents().clientMetadata(clientId));
    expect(err.code).toBe("redirected");
    expect(err.message).toBe("client_id metadata document refused: it was not served from its client_id URL (a redirect led elsewhere)");
  });

  it("refuses what is not a JSON object, and a status other than 200", async () => {
    docs.set("/clients/not-json.json", { body: "<html>" });
    expect((await refusal(documents().clientMetadata(docs.url("/clients/not-json.json")))).message).toMatch(/not JSON/);
    docs.set("/clients/array.json", { body: [] });
    expect((await refusal(documents().clientMetadata(docs.url("/clients/array.json")))).message).toMatch(/not a JSON object/);
    expect((await refusal(documents().clientMetadata(docs.url("/clients/missing.json")))).message).toMatch(/answered 404/);
  });

  it.each([
    ["https://localhost", "a path"],
    ["https://localhost/", "a path"],
    ["https://user:pw@localhost/c.json", "user name"],
    ["https://localhost/c.json#frag", "fragment"],
    ["https://localhost/a/../c.json", "segments"],
    ["https://localhost/a/%2E%2E/c.json", "segments"],
    ["https://localhost/a b.json", "spaces"],
    [`https://localhost/${"a".repeat(2100)}`, "longer"],
  ])("refuses the client_id URL %s", async (url, problem) => {
    expect(isClientIdMetadataDocumentUrl(url)).toBe(true);
    const err = await refusal(documents().clientMetadata(url));
    expect(err.code).toBe("invalid_client_id_url");
    expect(err.message).toContain(problem);
  });
});

describe("the document cache", () => {
  it("keeps a document for its max-age, and fetches it again when that has passed", async () => {
    const cache = documents();
    const long = publish({}, { "cache-control": "max-age=600" });
    await cache.clientMetadata(long);
    await cache.clientMetadata(long);
    expect(docs.hits(new URL(long).pathname)).toBe(1);

    const short = publish({}, { "cache-control": "max-age=4" });
    await cache.clientMetadata(short);
    await cache.clientMetadata(short);
    expect(docs.hits(new URL(short).pathname)).toBe(1);
    await sleep(4_500);
    await cache.clientMetadata(short);
    expect(docs.hits(new URL(short).pathname)).toBe(2);
  });

  it("never keeps a no-store, no-cache or private document, nor one without freshness (stale-while-revalidate gives none)", async () => {
    const cache = documents();
    const headerSets: Record<string, string>[] = [
      { "cache-control": "no-store, max-age=600" },
      { "cache-control": "no-cache, max-age=600" },
      { "cache-control": "private, max-age=600" },
      { "cache-control": "max-age=0, stale-while-revalidate=600" },
      {},
    ];
    for (const headers of headerSets) {
      const url = publish({}, headers);
      await cache.clientMetadata(url);
      await cache.clientMetadata(url);
      expect(docs.hits(new URL(url).pathname), JSON.stringify(headers)).toBe(2);
    }
  });

  it("sees a changed document once the cached one is stale", async () => {
    const cache = documents();
    const url = publish({}, { "cache-control": "max-age=4" });
    expect((await cache.clientMetadata(url)).client_name).toBe("Doc Agent");
    docs.set(new URL(url).pathname, { body: { client_id: url, client_name: "Renamed", redirect_uris: ["http://127.0.0.1:1/cb"] } });
    expect((await cache.clientMetadata(url)).client_name).toBe("Doc Agent");
    await sleep(4_500);
    expect((await cache.clientMetadata(url)).client_name).toBe("Renamed");
  });

  it("remembers a refusal for a while: a bad client_id does not make Tollgate fetch on every request", async () => {
    const cache = documents();
    const url = publish({ client_secret: "x" }, { "cache-control": "no-store" });
    for (let i = 0; i < 3; i++) expect((await refusal(cache.clientMetadata(url))).code).toBe("client_secret");
    expect(docs.hits(new URL(url).pathname)).toBe(1);
  });

  it("fetches a document once for concurrent requests", async () => {
    const cache = documents();
    const url = publish({}, { "cache-control": "no-store" });
    const all = await Promise.all(Array.from({ length: 8 }, () => cache.clientMetadata(url)));
    expect(all.every((m) => m.client_id === url)).toBe(true);
    expect(docs.hits(new URL(url).pathname)).toBe(1);
  });
});

describe("fetch limits: any caller can make Tollgate fetch a URL of its choosing", () => {
  it(`fetches at most ${MAX_CONCURRENT_FETCHES} documents at once: past that, refused without a fetch and not remembered`, async () => {
    const cache = documents();
    let release!: () => void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    const held = Array.from({ length: MAX_CONCURRENT_FETCHES }, () => {
      const url = publish();
      docs.set(new URL(url).pathname, { body: { client_id: url, client_name: "Slow", redirect_uris: ["http://127.0.0.1:1/cb"] }, hold });
      return url;
    });
    const inFlight = held.map((url) => cache.clientMetadata(url));
    const extra = publish();
    const err = await refusal(cache.clientMetadata(extra));
    expect(err.code).toBe("busy");
    expect(err.message).toBe("client_id metadata document not fetched: too many documents are being fetched; try again later");
    expect(docs.hits(new URL(extra).pathname)).toBe(0);
    // A client_id already being fetched is joined, not refused.
    const joined = cache.clientMetadata(held[0]!);
    release();
    expect((await Promise.all([...inFlight, joined])).map((m) => m.client_name)).toEqual(Array(MAX_CONCURRENT_FETCHES + 1).fill("Slow"));
    expect(docs.hits(new URL(held[0]!).pathname)).toBe(1);
    // The refusal was about the moment: the same client_id is fetched now.
    expect((await cache.clientMetadata(extra)).client_id).toBe(extra);
  });

  it("counts cache misses per requesting address on the shared limiter: past the limit refused without a fetch; other addresses and cached documents unaffected", async () => {
    let requester: string | undefined = "203.0.113.7";
    const cache = new ClientMetadataDocuments({ allowLoopback: true, extraCa: testCa().ca, logger: pino({ level: "silent" }), fetchLimit: { limiter: new MemoryRateLimiter(), perHour: 3, requester: () => requester } });
    const kept = publish({}, { "cache-control": "max-age=600" });
    await cache.clientMetadata(kept); // miss 1
    await cache.clientMetadata(docs.url("/clients/random-1.json")).catch(() => undefined); // miss 2 (a 404, refused)
    await cache.clientMetadata(publish()); // miss 3
    const over = publish();
    const err = await refusal(cache.clientMetadata(over));
    expect(err.code).toBe("rate_limited");
    expect(err.message).toBe("client_id metadata document not fetched: more than 3 document fetches an hour from one address; try again later");
    expect(docs.hits(new URL(over).pathname)).toBe(0);
    expect((await cache.clientMetadata(kept)).client_id).toBe(kept); // a cache hit is not a fetch
    requester = "198.51.100.9";
    expect((await cache.clientMetadata(over)).client_id).toBe(over);
    requester = undefined; // outside a provider request: only the concurrency cap applies
    expect((await cache.clientMetadata(publish())).client_name).toBe("Doc Agent");
  });
});

describe("TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS", () => {
  const base = { TOLLGATE_JWT_SECRET: JWT_SECRET, TOLLGATE_DEMO: "false" };

  it("is false by default and true when set in development", () => {
    expect(loadConfig(base).oauth.allowLoopbackClientIds).toBe(false);
    expect(loadConfig(base).oauth.documentFetchesPerHour).toBe(60);
    expect(loadConfig({ ...base, TOLLGATE_OAUTH_DOCUMENT_FETCHES_PER_HOUR: "5" }).oauth.documentFetchesPerHour).toBe(5);
    expect(loadConfig({ ...base, TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS: "true" }).oauth.allowLoopbackClientIds).toBe(true);
  });

  it("is a configuration error in production, and when not true or false", () => {
    const problems = (env: Record<string, string>): string[] => {
      try {
        loadConfig(env);
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
      }
      return [];
    };
    expect(problems({ ...base, TOLLGATE_ENV: "production", TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS: "true" })).toContain("TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS=true is not allowed in production");
    expect(problems({ ...base, TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS: "yes" })).toContain('TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS must be "true" or "false", got "yes"');
  });
});
