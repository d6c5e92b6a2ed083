// The MCP TypeScript SDK client through Tollgate to an `oauth` upstream (the demo MCP server):
// not connected, the client gets the SDK's UrlElicitationRequiredError carrying the connect URL
// (never a 401 it would answer by re-authorising); connected, its calls go through with the
// user's upstream token.
import { createServer } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UrlElicitationRequiredError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createDemoUpstream } from "../../src/demo/upstream.js";
import type { UpstreamCredentials } from "../../src/gateway/upstream-credentials.js";
import { bearer } from "../http/fixture.js";
import { listen, startGateway, stopServer, type Gateway } from "./helpers.js";

const PUBLIC_URL = "https://tollgate.example.com";
const demo = createDemoUpstream();
/** The Authorization header of every request that reached the upstream. */
const seen: (string | undefined)[] = [];
const upstream = createServer((req, res) => {
  seen.push(req.headers.authorization);
  demo.emit("request", req, res);
});
let upstreamUrl: string;
const gateways: Gateway[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  upstreamUrl = await listen(upstream);
});
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
  await Promise.allSettled(gateways.splice(0).map((g) => g.close()));
  seen.length = 0;
});
afterAll(async () => {
  await stopServer(upstream);
});

async function gatewayWith(upstreamCredentials?: UpstreamCredentials): Promise<Gateway> {
  const env = { TOLLGATE_PUBLIC_URL: PUBLIC_URL, TOLLGATE_UPSTREAMS: JSON.stringify([{ name: "demo", prefix: "/api/", url: upstreamUrl, auth: "oauth" }]) };
  const gw = await startGateway(env, undefined, upstreamCredentials ? { upstreamCredentials } : {});
  gateways.push(gw);
  return gw;
}

function client(gw: Gateway): { client: Client; transport: StreamableHTTPClientTransport } {
  const c = new Client({ name: "tollgate-e2e", version: "1.0.0" });
  clients.push(c);
  const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/api/v1/mcp/projects/priv/mcp`), {
    requestInit: { headers: { Authorization: bearer(gw.world.tokens.bobMcp) } },
  });
  return { client: c, transport };
}

describe("the MCP SDK client and an oauth upstream", () => {
  it("is asked to open the connect URL (UrlElicitationRequiredError), and nothing reaches the upstream", async () => {
    const gw = await gatewayWith();
    const { client: c, transport } = client(gw);
    const err = await c.connect(transport).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UrlElicitationRequiredError);
    const [elicitation] = (err as UrlElicitationRequiredError).elicitations;
    expect(elicitation).toMatchObject({ mode: "url", url: `${PUBLIC_URL}/oauth/upstream/demo/connect?user=bob`, elicitationId: expect.any(String) });
    expect(seen).toEqual([]);
  });

  it("works through with the user's upstream token once connected", async () => {
    const gw = await gatewayWith({ credentialFor: async (user) => ({ kind: "token", token: `upstream-token-of-${user}` }), rejected: async () => ({ kind: "unavailable" }) });
    const { client: c, transport } = client(gw);
    await c.connect(transport);
    const tools = await c.listTools();
    expect(tools.tools.length).toBeGreaterThan(0);
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen)).toEqual(new Set(["Bearer upstream-token-of-bob"]));
  });
});
