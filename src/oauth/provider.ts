// The OAuth 2.1 authorization server for the MCP endpoints: oidc-provider, configured for
// exactly what docs/oauth.md promises. No OpenID Connect: no `openid` scope, no ID tokens.
import { generateKeyPairSync } from "node:crypto";
import Provider, { errors, type Adapter, type KoaContextLike, type TokenModel } from "oidc-provider";
import { generateToken, type OAuthTokenKind } from "../tokens/format.js";
import { isUnavailable } from "../errors.js";
import type { CachedFacts } from "../facts/cached-facts.js";
import type { Logger } from "../log.js";
import { redirectUriAllowed, redirectUriProblem } from "./redirect-uris.js";
import { projectOfResource } from "./resources.js";
import { SCOPE_READ, SCOPE_TRIGGER } from "./issued-tokens.js";
import { failClosedAdapter, reportOutages, storeUnavailable } from "./store-outage.js";

export const OAUTH_ROUTES = {
  authorization: "/oauth/authorize",
  token: "/oauth/token",
  registration: "/oauth/register",
  revocation: "/oauth/revoke",
} as const;
/** Where the provider sends the browser for sign-in and consent (src/ui/consent.ts). */
export const CONSENT_PATH = "/ui/consent";
export const SCOPES = [SCOPE_READ, SCOPE_TRIGGER] as const;
/** Single-use codes live 60 s. */
export const AUTHORIZATION_CODE_TTL_S = 60;
/** The authorization server's own sign-in state (its cookie); who the user is comes from Tollgate's browser session at every consent. */
const SESSION_TTL_S = 3600;
const INTERACTION_TTL_S = 600;

export interface OAuthProviderOptions {
  /** TOLLGATE_PUBLIC_URL: the issuer. */
  issuer: string;
  accessTtlS: number;
  refreshTtlS: number;
  cookieKeys: string[];
  adapter: (model: string) => Adapter;
  facts: CachedFacts;
  logger: Logger;
}

/** Seconds until the grant in the context expires (the expiry the user chose), or Infinity. */
function grantRemainingS(ctx: KoaContextLike): number {
  const exp = ctx.oidc.entities.Grant?.exp;
  return typeof exp === "number" ? Math.max(1, exp - Math.floor(Date.now() / 1000)) : Infinity;
}

export function createOAuthProvider(options: OAuthProviderOptions): Provider {
  const { issuer, facts, logger } = options;
  /** Whether the project exists; MongoDB unavailable is the provider's temporarily_unavailable (store-outage.ts). */
  const knownProject = async (id: string): Promise<boolean> => {
    try {
      return (await facts.project(id)) !== null;
    } catch (err) {
      throw isUnavailable(err) ? storeUnavailable(err) : err;
    }
  };
  // Signs nothing Tollgate issues (no ID tokens); the provider wants a key for its metadata checks.
  const signingKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
  const provider = new Provider(issuer, {
    // A backend outage is answered temporarily_unavailable (store-outage.ts), never server_error.
    adapter: (model: string) => failClosedAdapter(options.adapter(model)),
    routes: { ...OAUTH_ROUTES, jwks: "/oauth/jwks" },
    scopes: [...SCOPES],
    claims: {},
    jwks: { keys: [{ ...signingKey, use: "sig", alg: "RS256" }] },
    cookies: { keys: options.cookieKeys },
    // Public clients only: PKCE is their proof; no client secret is ever stored.
    clientAuthMethods: ["none"],
    clientDefaults: { grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], token_endpoint_auth_method: "none" },
    responseTypes: ["code"],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // `resource` is required: a request without one is refused, never given a default.
        defaultResource: async (_ctx: unknown, _client: unknown, oneOf?: string | string[]) => {
          if (oneOf) return oneOf;
          throw new errors.InvalidTarget("resource is required: the MCP endpoint the token is for");
        },
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx: KoaContextLike, resource: string) => {
          const project = projectOfResource(issuer, resource);
          if (!project || !(await knownProject(project))) throw new errors.InvalidTarget("resource is not an MCP endpoint of this Tollgate");
          return { scope: SCOPES.join(" "), accessTokenFormat: "opaque", accessTokenTTL: Math.min(options.accessTtlS, grantRemainingS(ctx)) };
        },
      },
    },
    // Every authorization asks the user: no grant is reused silently.
    loadExistingGrant: async (ctx: { oidc: { result?: { consent?: { grantId?: string } }; provider: Provider } }) => {
      const grantId = ctx.oidc.result?.consent?.grantId;
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
    },
    interactions: { url: async (_ctx: unknown, interaction: { uid: string }) => `${CONSENT_PATH}?uid=${encodeURIComponent(interaction.uid)}` },
    findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
    // Refresh tokens to every client registered for the grant type, offline_access or not; always rotated.
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed("refresh_token"),
    rotateRefreshToken: true,
    expiresWithSession: async () => false,
    ttl: {
      AccessToken: (ctx: KoaContextLike) => Math.min(options.accessTtlS, grantRemainingS(ctx)),
      AuthorizationCode: AUTHORIZATION_CODE_TTL_S,
      RefreshToken: (ctx: KoaContextLike) => Math.min(options.refreshTtlS, grantRemainingS(ctx)),
      Interaction: INTERACTION_TTL_S,
      Session: SESSION_TTL_S,
      Grant: options.refreshTtlS,
    },
    // A client's registered `scope` would cap what it may ask for later: a client registered for
    // the 401's mcp:read (the MCP SDKs register for the challenge's scope) could never step up to
    // mcp:trigger. What a client gets is decided by the user on the consent page and by the
    // policy, so a registered scope of supported values is dropped; any other is still refused.
    extraClientMetadata: {
      properties: ["scope"],
      validator: (_ctx: unknown, key: string, value: unknown, metadata: Record<string, unknown>) => {
        if (key === "scope" && typeof value === "string" && value.split(" ").every((s) => (SCOPES as readonly string[]).includes(s))) delete metadata.scope;
      },
    },
    clientBasedCORS: () => true,
    // Authorization errors go back to the client; an error page only when that is impossible.
    renderError: async (ctx: { type: string; body: string; status: number }, out: { error: string; error_description?: string }) => {
      ctx.type = "application/json";
      ctx.body = JSON.stringify(out);
    },
  });
  restrictRedirectUris(provider);
  tollgateTokenValues(provider.AccessToken, "oauth_access");
  tollgateTokenValues(provider.RefreshToken, "oauth_refresh");
  reportOutages(provider, logger);
  provider.on("server_error", (_ctx: unknown, err: unknown) => logger.error({ err: String(err) }, "oauth: server error"));
  return provider;
}

/**
 * Tollgate's redirect URI rules (redirect-uris.ts) in place of the provider's: checked when a
 * client is registered or loaded (the schema: a refusal is invalid_redirect_uri) and when an
 * authorization request names one.
 */
function restrictRedirectUris(provider: Provider): void {
  const Client = provider.Client as unknown as {
    prototype: { redirectUriAllowed(value: string): boolean; redirectUris: string[]; applicationType?: string };
    Schema: { prototype: { redirectUris(uris?: string[], label?: string): void; redirect_uris?: string[] } };
  };
  const schema = Client.Schema.prototype;
  const checkSchema = schema.redirectUris;
  schema.redirectUris = function (this: typeof schema, uris = this.redirect_uris ?? [], label = "redirect_uris") {
    checkSchema.call(this, uris, label);
    for (const uri of uris) {
      const problem = redirectUriProblem(uri);
      if (problem === null) continue;
      const refusal = new errors.InvalidRedirectUri();
      refusal.error_description = `${label}: ${problem}`;
      throw refusal;
    }
  };
  Client.prototype.redirectUriAllowed = function (this: typeof Client.prototype, value: string) {
    return redirectUriAllowed(value, this.redirectUris, this.applicationType === "native");
  };
}

/**
 * Access and refresh tokens in Tollgate's token format (tg_oat_…, tg_ort_…: prefix, 256 random
 * bits, checksum; src/tokens/format.ts), so junk is refused without a store read and a leaked
 * token is recognisable. The library's own generateTokenId still runs first for what it sets on
 * the token (its format); only its value is replaced.
 */
function tollgateTokenValues(model: TokenModel, kind: OAuthTokenKind): void {
  const generate = model.prototype.generateTokenId;
  model.prototype.generateTokenId = function (this: object): string {
    generate.call(this);
    return generateToken(kind).value;
  };
}
