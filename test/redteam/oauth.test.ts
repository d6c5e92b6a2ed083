// Red-team cases for the OAuth authorization server's redirect URIs: where an authorization code
// may be sent. A code sent to a URI the client did not register exactly (another port on
// `localhost`, which another local process may hold) or over plain http to a non-loopback host
// (readable on the network) is a stolen code.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redirectUriAllowed, redirectUriProblem } from "../../src/oauth/redirect-uris.js";
import { authorizePath, Browser, pkce, startOAuthServer, stopDemoUpstream, type OAuthServer } from "../oauth/support.js";

let as: OAuthServer;

beforeAll(async () => {
  as = await startOAuthServer();
});

afterAll(async () => {
  await as?.close();
  await stopDemoUpstream();
});

async function registration(metadata: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${as.url}/oauth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_name: "Red team", grant_types: ["authorization_code", "refresh_token"], token_endpoint_auth_method: "none", ...metadata }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function registered(redirectUri: string, applicationType: "native" | "web" = "native"): Promise<string> {
  const res = await registration({ redirect_uris: [redirectUri], application_type: applicationType });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.client_id as string;
}

/** Whether the authorization endpoint accepts `redirectUri` for the client (it then sends the browser to consent). */
async function authorizes(clientId: string, redirectUri: string): Promise<boolean> {
  const res = await new Browser(as.url, "bob").request(authorizePath({ client_id: clientId, resource: as.mcpResource("priv"), code_challenge: pkce().challenge, redirect_uri: redirectUri }));
  if (res.status === 400) {
    expect(res.json()).toMatchObject({ error: "invalid_redirect_uri" });
    return false;
  }
  expect(res.status, res.body).toBe(303);
  expect(res.location!.pathname).toBe("/ui/consent");
  return true;
}

describe("an http://localhost redirect URI", () => {
  it("must match including its port (only loopback IP literals get RFC 8252 §7.3's any port)", async () => {
    const client = await registered("http://localhost:53682/callback");
    expect(await authorizes(client, "http://localhost:53682/callback")).toBe(true);
    for (const other of ["http://localhost:41234/callback", "http://localhost/callback", "http://localhost:80/callback", "http://LOCALHOST:53682/callback"]) expect(await authorizes(client, other), other).toBe(false);
  });

  it("a loopback IP literal keeps any port, for native clients, and nothing else about it may differ", async () => {
    const v4 = await registered("http://127.0.0.1:53682/callback");
    expect(await authorizes(v4, "http://127.0.0.1:41234/callback")).toBe(true);
    expect(await authorizes(v4, "http://127.0.0.1/callback")).toBe(true);
    for (const other of ["http://127.0.0.1:41234/other", "http://localhost:53682/callback", "http://127.0.0.2:53682/callback", "http://user@127.0.0.1:41234/callback", "https://127.0.0.1:53682/callback"]) expect(await authorizes(v4, other), other).toBe(false);
    const v6 = await registered("http://[::1]:53682/callback");
    expect(await authorizes(v6, "http://[::1]:41234/callback")).toBe(true);
    expect(await authorizes(v6, "http://127.0.0.1:53682/callback")).toBe(false);
    // A web client gets no port flexibility at all.
    const web = await registered("http://127.0.0.1:53682/callback", "web");
    expect(await authorizes(web, "http://127.0.0.1:53682/callback")).toBe(true);
    expect(await authorizes(web, "http://127.0.0.1:41234/callback")).toBe(false);
  });
});

describe("a plain-http redirect URI on a non-loopback host", () => {
  it("is refused at registration, whatever the application type: invalid_redirect_uri", async () => {
    for (const uri of ["http://evil.example.com/callback", "http://localhost.evil.example.com/cb", "http://127.0.0.1.nip.io/cb", "http://10.0.0.5:8080/cb", "http://[::2]/cb", "http://0.0.0.0:53682/cb"]) {
      for (const applicationType of ["web", "native"]) {
        const res = await registration({ redirect_uris: [uri], application_type: applicationType });
        expect(res.status, `${applicationType} ${uri}`).toBe(400);
        expect(res.body.error, `${applicationType} ${uri}`).toMatch(/^invalid_(redirect_uri|client_metadata)$/);
      }
    }
    // Beside an allowed one too.
    const mixed = await registration({ redirect_uris: ["https://app.example.com/cb", "http://app.example.com/cb"], application_type: "web" });
    expect(mixed.status).toBe(400);
    expect(mixed.body.error).toBe("invalid_redirect_uri");
    // https anywhere, and http on loopback, are fine.
    expect((await registration({ redirect_uris: ["https://app.example.com/cb"], application_type: "web" })).status).toBe(201);
    expect((await registration({ redirect_uris: ["http://localhost:8080/cb"], application_type: "web" })).status).toBe(201);
  });

  it("is refused at authorization, even for a client stored before the rule", () => {
    // A client loaded from the store passes the same schema (refused); the per-request check holds on its own as well.
    expect(redirectUriAllowed("http://evil.example.com/callback", ["http://evil.example.com/callback"], false)).toBe(false);
    expect(redirectUriAllowed("http://evil.example.com/callback", ["http://evil.example.com/callback"], true)).toBe(false);
    expect(redirectUriAllowed("https://evil.example.com/callback", ["https://evil.example.com/callback"], false)).toBe(true);
    expect(redirectUriProblem("http://localhost:1/x")).toBeNull();
    expect(redirectUriProblem("not a uri")).not.toBeNull();
  });
});
