// The authorization server's routes on the public port: its RFC 8414 metadata, the provider's
// endpoints under /oauth/, and the consent page.
import type { IncomingMessage, ServerResponse } from "node:http";
import type Provider from "oidc-provider";
import { writeError, writeOAuthUnavailable } from "../api/error-writer.js";
import { clientAddress, limitedClient, type TrustedProxies } from "../http/client-address.js";
import type { Logger } from "../log.js";
import type { RateLimiter } from "../stores/types.js";
import { authorizationFormAsGet } from "./authorization-form.js";
import { authorizationServerMetadata } from "./metadata.js";
import { CONSENT_PATH, OAUTH_ROUTES } from "./provider.js";
import { outageCause } from "./store-outage.js";

export const METADATA_PATH = "/.well-known/oauth-authorization-server";

/** [method, OpenAPI path] of every route served here (docs/openapi.json documents each). */
export const OAUTH_HOT_ROUTES: ReadonlyArray<readonly [string, string]> = [
  ["get", METADATA_PATH],
  ["get", OAUTH_ROUTES.authorization],
  ["post", OAUTH_ROUTES.authorization],
  ["get", `${OAUTH_ROUTES.authorization}/{uid}`],
  ["post", OAUTH_ROUTES.token],
  ["post", OAUTH_ROUTES.registration],
  ["post", OAUTH_ROUTES.revocation],
  ["get", CONSENT_PATH],
  ["post", CONSENT_PATH],
];

/** The methods each path takes (HEAD with GET; OPTIONS for CORS preflights of the endpoints clients call from browsers). */
function routeOf(method: string, path: string): boolean {
  const m = method === "HEAD" ? "GET" : method;
  if (path === METADATA_PATH) return m === "GET";
  if (path === OAUTH_ROUTES.authorization) return m === "GET" || m === "POST";
  if (path === CONSENT_PATH) return m === "GET" || m === "POST";
  if (path.startsWith(`${OAUTH_ROUTES.authorization}/`)) return m === "GET" && /^[A-Za-z0-9_-]{1,128}$/.test(path.slice(OAUTH_ROUTES.authorization.length + 1));
  if (path === OAUTH_ROUTES.token || path === OAUTH_ROUTES.registration || path === OAUTH_ROUTES.revocation) return m === "POST" || m === "OPTIONS";
  return false;
}

export interface OAuthEndpoints {
  /** Whether this request (method, path as received) is one of the authorization server's; anything else falls through (404). */
  handles(method: string, path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse): void;
}

const HOUR_MS = 3_600_000;

export interface OAuthEndpointsOptions {
  issuer: string;
  provider: Provider;
  consent: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** Dynamic registrations per client address (its /64 for IPv6) in any hour, on the shared limiter. */
  registrations: { limiter: RateLimiter; perHour: number; trustedProxies: TrustedProxies };
  onError: (err: unknown, req: IncomingMessage, res: ServerResponse) => void;
  logger: Logger;
}

export function oauthEndpoints(options: OAuthEndpointsOptions): OAuthEndpoints {
  const metadata = JSON.stringify(authorizationServerMetadata(options.issuer));
  const providerListener = options.provider.callback();
  const { limiter, perHour, trustedProxies } = options.registrations;
  /** Counts the registration against its client; false (429 answered) past the limit. */
  async function registrationAdmitted(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const client = limitedClient(clientAddress(req, trustedProxies));
    const hit = await limiter.hit(`oauth_register:${client}`, perHour, HOUR_MS);
    if (hit.allowed) return true;
    writeError(res, { code: "rate_limited", message: `at most ${perHour} client registrations an hour from one address`, retryAfterS: hit.reset_ms / 1000 });
    return false;
  }
  /** Errors of the steps before the provider: an outage in OAuth's shape (as the provider answers it), anything else as onError does. */
  const failed = (req: IncomingMessage, res: ServerResponse) => (err: unknown) => {
    const cause = outageCause(err);
    if (!cause || res.headersSent) return options.onError(err, req, res);
    options.logger.error({ backend: cause.backend, err: String(cause), method: req.method, path: (req.url ?? "/").split("?")[0] }, "oauth: backend unavailable; answered temporarily_unavailable");
    writeOAuthUnavailable(res);
  };
  return {
    handles: routeOf,
    handle(req, res) {
      const path = (req.url ?? "/").split("?")[0]!;
      if (path === METADATA_PATH) {
        res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=3600", "access-control-allow-origin": "*", "content-length": Buffer.byteLength(metadata) });
        res.end(req.method === "HEAD" ? undefined : metadata);
        return;
      }
      if (path === CONSENT_PATH) {
        options.consent(req, res).catch((err: unknown) => options.onError(err, req, res));
        return;
      }
      if (path === OAUTH_ROUTES.registration && req.method === "POST") {
        registrationAdmitted(req, res)
          .then((admitted) => admitted && providerListener(req, res))
          .catch(failed(req, res));
        return;
      }
      if (path === OAUTH_ROUTES.authorization && req.method === "POST") {
        authorizationFormAsGet(req, res)
          .then((asGet) => asGet && providerListener(req, res))
          .catch(failed(req, res));
        return;
      }
      providerListener(req, res);
    },
  };
}
