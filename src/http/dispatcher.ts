import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { Gateway } from "../gateway/gateway.js";
import type { Logger } from "../log.js";
import { OAUTH_HOT_ROUTES, type OAuthEndpoints } from "../oauth/http.js";
import { traceRequests, tracingEnabled } from "../tracing.js";
import { DATA_API_PREFIX, type DecisionEndpoints, EXT_AUTHZ_PREFIX, type Handler, pathOf } from "./decision-endpoints.js";
import { writeError } from "../api/error-writer.js";
import { ERRORS } from "../errors.js";
import { writeRequestError } from "./errors.js";
import { headerLimitBroken } from "./request-limits.js";
import { MCP_ENDPOINT_ROUTE, PROTECTED_RESOURCE_PREFIX } from "../mcp/discovery.js";
import type { protectedResourceEndpoint } from "./protected-resource.js";

type ProtectedResourceEndpoint = ReturnType<typeof protectedResourceEndpoint>;

export interface HotPaths {
  /** The decision endpoints (the internal port, or the one port). */
  decisions?: DecisionEndpoints;
  /** The /api/ gateway (the public port, or the one port). */
  gateway?: Gateway;
  /** With the gateway and discovery configured: the MCP endpoints' RFC 9728 metadata. */
  protectedResource?: ProtectedResourceEndpoint;
  /** Tollgate as the OAuth authorization server (the public port, or the one port). */
  oauth?: OAuthEndpoints;
}

/** A listener with what it serves, for the route listing test (test/http/openapi.test.ts). */
export type Dispatcher = RequestListener & {
  /** [method, OpenAPI path] of each route served here without the framework. */
  hotRoutes: ReadonlyArray<readonly [string, string]>;
  /** The Express apps behind it: the fallback, and the gateway's local routes. */
  apps: readonly RequestListener[];
};

const ALL_METHODS = ["get", "put", "post", "delete", "patch"] as const;
const DECISION_ROUTES: ReadonlyArray<readonly [string, string]> = [
  ["post", "/v1/authorize"],
  ["get", "/v1/forward-auth"],
  ...ALL_METHODS.map((m) => [m, `${EXT_AUTHZ_PREFIX}/{target}`] as const),
  ["post", `${DATA_API_PREFIX}/tollgate/authz/decision`],
  ["post", `${DATA_API_PREFIX}/tollgate/authz/decision/{field}`],
  ["get", `${DATA_API_PREFIX}/{path}`],
  ["post", `${DATA_API_PREFIX}/{path}`],
];

const PROTECTED_RESOURCE_ROUTE = ["get", `${PROTECTED_RESOURCE_PREFIX}${MCP_ENDPOINT_ROUTE}`] as const;

export interface DispatcherOptions {
  /** TOLLGATE_MAX_HEADER_FIELDS. */
  maxHeaderFields: number;
  logger: Logger;
}

/** `path` is `prefix` itself or below it (path already lower-cased). */
const under = (path: string, prefix: string): boolean => path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47); /* "/" */
/** An exact route: its path, with or without one trailing slash, as Express matched it. */
const exactly = (path: string, route: string): boolean => path.startsWith(route) && (path.length === route.length || (path.length === route.length + 1 && path.endsWith("/")));

/**
 * The node:http front of every listener: the hot endpoints (/v1/authorize, /v1/data/…,
 * /v1/forward-auth, /v1/ext-authz/…, and the /api/ gateway) are served here without the
 * framework; everything else (admin API, self-service, operations, docs) goes to the Express app.
 * Paths match as Express matched them: case-insensitively, an exact route with or without a
 * trailing slash; a method a route does not take falls through (to Express's 404).
 */
export function dispatcher(hot: HotPaths, fallback: RequestListener, options: DispatcherOptions): Dispatcher {
  const { decisions, gateway, protectedResource, oauth } = hot;
  const traced = traceRequests();
  const hotHandler = (req: IncomingMessage, exactPath: string): Handler | undefined => {
    const path = exactPath.toLowerCase();
    const method = req.method;
    if (gateway && under(path, "/api")) return gateway;
    if (!decisions || !path.startsWith("/v1/")) return undefined;
    if (exactly(path, "/v1/authorize")) return method === "POST" ? decisions.authorize : undefined;
    if (exactly(path, "/v1/forward-auth")) return method === "GET" || method === "HEAD" ? decisions.forwardAuth : undefined;
    if (under(path, EXT_AUTHZ_PREFIX)) return decisions.extAuthz;
    if (under(path, DATA_API_PREFIX)) return method === "GET" || method === "HEAD" || method === "POST" ? decisions.dataApi : undefined;
    return undefined;
  };
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const path = pathOf(req);
    // Case-sensitive: the path names a resource identifier, compared exactly by clients.
    if (protectedResource && path.startsWith(PROTECTED_RESOURCE_PREFIX) && protectedResource(req, res, path)) return;
    // Case-sensitive too, as its router (oidc-provider's) matches them.
    if (oauth?.handles(req.method ?? "", path)) return void oauth.handle(req, res);
    const handler = hotHandler(req, path);
    if (!handler) return void fallback(req, res);
    const run = (): void => {
      const broken = headerLimitBroken(req, options.maxHeaderFields);
      if (broken) {
        writeError(res, broken);
        handler.refused(req, ERRORS[broken.code].status, broken.code);
        return;
      }
      handler(req, res).catch((err: unknown) => writeRequestError(res, err, options.logger, { method: req.method ?? "", path: pathOf(req) }));
    };
    // With an SDK registered (OTEL_EXPORTER_OTLP_ENDPOINT): a server span per request, as the Express app gives the rest.
    if (tracingEnabled()) traced(req, res, run);
    else run();
  };
  const hotRoutes = [...(decisions ? DECISION_ROUTES : []), ...(protectedResource ? [PROTECTED_RESOURCE_ROUTE] : []), ...(oauth ? OAUTH_HOT_ROUTES : [])];
  return Object.assign(listener, { hotRoutes, apps: gateway ? [fallback, gateway.local] : [fallback] });
}
