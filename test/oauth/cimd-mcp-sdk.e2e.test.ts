// The official MCP SDK 1.x client with a Client ID Metadata Document: Tollgate's metadata says
// client_id_metadata_document_supported, so the SDK registers nothing and uses the document's URL
// as its client_id; Tollgate fetches the document (https on loopback, the test CA, with
// TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS=true), the user consents, and the SDK calls tools.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testCa } from "../support/test-ca.js";
import { startDocumentServer, type DocumentServer } from "./document-server.js";
import { sdkClientProvider, sdkConnectWithOAuth } from "./sdk-client.js";
import { REDIRECT_URI, startOAuthServer, stopDemoUpstream, type OAuthServer } from "./support.js";

let as: OAuthServer;
let docs: DocumentServer;

beforeAll(async () => {
  docs = await startDocumentServer();
  as = await startOAuthServer({ env: { TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS: "true" }, clientDocumentsCa: testCa().ca });
});

afterAll(async () => {
  await as?.close();
  await docs?.close();
  await stopDemoUpstream();
});

describe("MCP SDK 1.x with a Client ID Metadata Document", () => {
  it("uses the document's URL as client_id without registering, and lists and calls tools with the issued token", async () => {
    const clientId = docs.url("/sdk-agent/client.json");
    docs.set("/sdk-agent/client.json", { headers: { "cache-control": "max-age=300" }, body: { client_id: clientId, client_name: "SDK Doc Agent", redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none", grant_types: ["authorization_code", "refresh_token"], response_types: ["code"] } });
    const { provider, state } = sdkClientProvider(as, "bob", { clientMetadataUrl: clientId });
    const client = await sdkConnectWithOAuth(as, "priv", provider, state);
    try {
      expect(state.client?.client_id).toBe(clientId);
      expect(state.authorizeUrl?.searchParams.get("client_id")).toBe(clientId);
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain("list_builds");
      const records = (await as.tollgate.facts.tokenStore.listByUser("bob")).filter((r) => r.oauth?.client_id === clientId);
      expect(records).toMatchObject([{ kind: "mcp", name: "SDK Doc Agent", grants: [{ project_id: "priv", allow_trigger: false }] }]);
      // Fetched once, then served from the cache for the rest of the flow (max-age=300).
      expect(docs.hits("/sdk-agent/client.json")).toBe(1);
    } finally {
      await client.close();
    }
  });
});
