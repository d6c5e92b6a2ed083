// An OAuth-protected upstream MCP server for tests, with real parts: oidc-provider (npm) as its
// authorization server, dynamic client registration (RFC 7591) and management (RFC 7592) enabled,
// JWT access tokens for the resource (RFC 8707), revocation (RFC 7009); and an MCP server built with
// the MCP TypeScript SDK (1.x) that validates each Bearer token against the authorization server's
// keys and publishes its protected resource metadata (RFC 9728). Sign-in and consent need no
// forms: the interaction signs in whichever user the test names next and grants what was asked.
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { listen, stopServer } from "../gateway/helpers.js";

interface Details {
  prompt: { name: string };
  session?: { accountId: string };
  params: Record<string, unknown>;
  grantId?: string;
}
interface GrantLike {
  addOIDCScope(scope: string): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}
interface Provider {
  callback(): RequestListener;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Details>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: object, options?: object): Promise<void>;
  Grant: (new (init: { accountId: string; clientId: string }) => GrantLike) & { find(id: string): Promise<GrantLike | undefined> };
  Client: { adapter: { destroy(id: string): Promise<void> } };
}
type ProviderClass = new (issuer: string, configuration: object) => Provider;
const PACKAGE = "oidc-provider";

/** The scope the upstream's tools need. */
export const UPSTREAM_SCOPE = "mcp:tools";

export interface UpstreamAs {
  issuer: string;
  /** Successful registrations (POST /reg answered 201) so far. */
  registrations(): number;
  /** Successful RFC 7592 updates (PUT /reg/{id} answered 200) so far. */
  updates(): number;
  /** Successful revocations (POST /token/revocation answered 200) so far. */
  revocations(): number;
  /** Every secret the server handed out (client secrets, registration access tokens, access and refresh tokens). */
  issuedSecrets(): string[];
  /** Forgets a client, as an authorization server that dropped a registration (its next use: invalid_client). */
  deleteClient(clientId: string): Promise<void>;
  /** The user the next sign-in signs in as. */
  signInAs(user: string): void;
  /** While false, every request is refused at the socket (the authorization server is down). */
  setUp(up: boolean): void;
  close(): Promise<void>;
}

export async function startUpstreamAs(options: { accessTokenTtlS?: number } = {}): Promise<UpstreamAs> {
  let provider: Provider | undefined;
  let nextUser = "upstream-bob";
  let up = true;
  const counts = { registrations: 0, updates: 0, revocations: 0 };
  const secrets = new Set<string>();
  /** Reads the JSON answers of the registration and token endpoints for the secrets in them. */
  const captureSecrets = (res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    const keep = (chunk: unknown) => {
      if (typeof chunk === "string" || Buffer.isBuffer(chunk)) chunks.push(Buffer.from(chunk));
    };
    res.write = ((...args: unknown[]) => (keep(args[0]), write(...args))) as typeof res.write;
    res.end = ((...args: unknown[]) => {
      if (typeof args[0] !== "function") keep(args[0]);
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
        for (const name of ["client_secret", "registration_access_token", "access_token", "refresh_token"]) if (typeof body[name] === "string") secrets.add(body[name] as string);
      } catch {
        // not JSON: nothing to keep
      }
      return end(...args);
    }) as typeof res.end;
  };
  const server: Server = createServer((req, res) => {
    if (!up) return void req.socket.destroy();
    if (!provider) return void res.writeHead(503).end();
    const path = new URL(req.url ?? "/", "http://x").pathname;
    res.on("finish", () => {
      if (req.method === "POST" && path === "/reg" && res.statusCode === 201) counts.registrations++;
      if (req.method === "PUT" && path.startsWith("/reg/") && res.statusCode === 200) counts.updates++;
      if (req.method === "POST" && path === "/token/revocation" && res.statusCode === 200) counts.revocations++;
    });
    if (path === "/token" || path.startsWith("/reg")) captureSecrets(res);
    if (path.startsWith("/interaction/")) return void interact(provider, req, res).catch(() => res.writeHead(500).end());
    provider.callback()(req, res);
  });
  const issuer = await listen(server);
  const { default: Provider, errors } = (await import(PACKAGE)) as { default: ProviderClass; errors: { InvalidTarget: new (m: string) => Error } };
  provider = new Provider(issuer, {
    findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    scopes: ["openid", "offline_access", UPSTREAM_SCOPE],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true },
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx: unknown, _client: unknown, oneOf?: string | string[]) => {
          if (oneOf) return oneOf;
          throw new errors.InvalidTarget("resource is required");
        },
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({
          scope: UPSTREAM_SCOPE,
          accessTokenFormat: "jwt",
          accessTokenTTL: options.accessTokenTtlS ?? 3600,
        }),
      },
    },
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed("refresh_token"),
    // Every refresh rotates the refresh token; a spent one presented again revokes the grant.
    rotateRefreshToken: true,
    cookies: { keys: ["test-cookie-key-0123456789"] },
  });
  const interact = async (p: Provider, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const details = await p.interactionDetails(req, res);
    if (details.prompt.name === "login") return void (await p.interactionFinished(req, res, { login: { accountId: nextUser } }));
    const grant = new p.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
    const scopes = String(details.params.scope ?? "").split(" ").filter(Boolean);
    for (const scope of scopes) grant.addOIDCScope(scope);
    if (typeof details.params.resource === "string") for (const scope of scopes) grant.addResourceScope(details.params.resource, scope);
    await p.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  };
  return {
    issuer,
    registrations: () => counts.registrations,
    updates: () => counts.updates,
    revocations: () => counts.revocations,
    issuedSecrets: () => [...secrets],
    deleteClient: (clientId) => provider!.Client.adapter.destroy(clientId),
    signInAs: (user) => void (nextUser = user),
    setUp: (value) => void (up = value),
    close: () => stopServer(server),
  };
}

export interface UpstreamMcp {
  /** The protected resource: the server's base URL, every MCP path under it. */
  url: string;
  /** The subject (upstream user) and token of every call that passed the token check. */
  calls: Array<{ sub: string; token: string }>;
  close(): Promise<void>;
}

/**
 * An MCP server (SDK 1.x, stateless: a transport per request) on every path, whose one tool
 * `list_builds` answers the upstream user the token was issued to. A request without a token valid
 * for this resource is answered 401 with the RFC 9728 resource_metadata challenge.
 */
export async function startUpstreamMcp(as: UpstreamAs): Promise<UpstreamMcp> {
  const jwks = createRemoteJWKSet(new URL(`${as.issuer}/jwks`));
  const calls: UpstreamMcp["calls"] = [];
  let url = "";
  const server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      if (path === "/.well-known/oauth-protected-resource") {
        res.writeHead(200, { "content-type": "application/json" });
        return void res.end(JSON.stringify({ resource: url, authorization_servers: [as.issuer], scopes_supported: [UPSTREAM_SCOPE], bearer_methods_supported: ["header"] }));
      }
      const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1];
      let sub: string | undefined;
      if (token) {
        try {
          const { payload } = await jwtVerify(token, jwks, { issuer: as.issuer, audience: url });
          if (String(payload.scope ?? "").split(" ").includes(UPSTREAM_SCOPE)) sub = payload.sub;
        } catch {
          sub = undefined;
        }
      }
      if (!sub) {
        res.writeHead(401, { "www-authenticate": `Bearer resource_metadata="${url}.well-known/oauth-protected-resource", scope="${UPSTREAM_SCOPE}"` });
        return void res.end();
      }
      calls.push({ sub, token: token! });
      const mcp = new McpServer({ name: "protected-upstream", version: "1.0.0" });
      mcp.registerTool("list_builds", { description: "Answers the upstream user of the token (a tool name the test policy knows)" }, async () => ({ content: [{ type: "text", text: sub }] }));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      await mcp.connect(transport);
      res.on("close", () => void transport.close());
      await transport.handleRequest(req, res);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  url = `${await listen(server)}/`;
  return { url, calls, close: () => stopServer(server) };
}

/**
 * A browser's walk through the authorization server without a browser: follows redirects (keeping
 * the server's cookies) from `location` until one leads to `callbackPrefix`, and returns that URL.
 */
export async function walkToCallback(location: string, callbackPrefix: string): Promise<URL> {
  const cookies = new Map<string, string>();
  let url = location;
  for (let hop = 0; hop < 20; hop++) {
    if (url.startsWith(callbackPrefix)) return new URL(url);
    const res = await fetch(url, { redirect: "manual", headers: cookies.size ? { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") } : {} });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair!.indexOf("=");
      cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    const next = res.headers.get("location");
    await res.body?.cancel();
    if (!next) throw new Error(`the walk stopped at ${url} with ${res.status}`);
    url = new URL(next, url).href;
  }
  throw new Error("too many redirects");
}
