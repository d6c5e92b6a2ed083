// RFC 9728 discovery for MCP clients: each project's MCP endpoint is its own OAuth protected
// resource, named from TOLLGATE_PUBLIC_URL (never from Host), with its metadata at the
// path-inserted well-known URL. Framework-free: the dispatcher serves the metadata, the error
// writer puts the metadata URL in a 401's challenge.
import { ID_RE } from "../domain.js";
import type { RouteInfo } from "../policy/types.js";

/** The route of a project's MCP endpoint (the route table's pattern). */
export const MCP_ENDPOINT_ROUTE = "/api/v1/mcp/projects/{project}/mcp";
/** RFC 9728 §3: the well-known prefix inserted before the resource's path. */
export const PROTECTED_RESOURCE_PREFIX = "/.well-known/oauth-protected-resource";
/** The scopes an MCP client may ask for; a 401 asks for the first. */
export const MCP_SCOPES = ["mcp:read", "mcp:trigger"] as const;
export const MCP_CHALLENGE_SCOPE = MCP_SCOPES[0];

const ENDPOINT_PREFIX = "/api/v1/mcp/projects/";
const ENDPOINT_SUFFIX = "/mcp";
const METADATA_PREFIX = `${PROTECTED_RESOURCE_PREFIX}${ENDPOINT_PREFIX}`;

/** Discovery as configured; null (no authorization servers): nothing served, no resource_metadata. */
export interface McpDiscovery {
  /** TOLLGATE_PUBLIC_URL's origin, without a trailing slash. */
  publicUrl: string;
  /** TOLLGATE_MCP_AUTHORIZATION_SERVERS, as written. */
  authorizationServers: readonly string[];
}

export function mcpDiscovery(config: { publicUrl: string | null; mcpAuthorizationServers: readonly string[] }): McpDiscovery | null {
  if (config.publicUrl === null || config.mcpAuthorizationServers.length === 0) return null;
  return { publicUrl: config.publicUrl, authorizationServers: [...config.mcpAuthorizationServers] };
}

/** The resource identifier of `project`'s MCP endpoint (a well-formed project id). */
export function mcpResource(d: McpDiscovery, project: string): string {
  return `${d.publicUrl}${ENDPOINT_PREFIX}${project}${ENDPOINT_SUFFIX}`;
}

/** Where the resource's metadata is: the well-known prefix inserted between origin and path. */
export function resourceMetadataUrl(d: McpDiscovery, project: string): string {
  return `${d.publicUrl}${METADATA_PREFIX}${project}${ENDPOINT_SUFFIX}`;
}

/**
 * The project a metadata path names: exactly `/.well-known/oauth-protected-resource/api/v1/mcp/projects/{project}/mcp`
 * (case-sensitive, no trailing slash) with a well-formed project id (the id alphabet: no `/`,
 * `%`-escape or dot segment). Null for anything else. Whether the project exists is not asked:
 * every well-formed name is answered alike, so the answer tells an anonymous caller nothing.
 */
export function projectOfMetadataPath(path: string): string | null {
  if (!path.startsWith(METADATA_PREFIX) || !path.endsWith(ENDPOINT_SUFFIX)) return null;
  const project = path.slice(METADATA_PREFIX.length, path.length - ENDPOINT_SUFFIX.length);
  return ID_RE.test(project) ? project : null;
}

export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  bearer_methods_supported: ["header"];
  scopes_supported: string[];
}

/** RFC 9728 §2: the metadata of `project`'s MCP endpoint. */
export function protectedResourceMetadata(d: McpDiscovery, project: string): ProtectedResourceMetadata {
  return {
    resource: mcpResource(d, project),
    authorization_servers: [...d.authorizationServers],
    bearer_methods_supported: ["header"],
    scopes_supported: [...MCP_SCOPES],
  };
}

/**
 * What a 401 for a request on `route` adds to its challenge (RFC 9728 §5.1): on a project's MCP
 * endpoint with discovery configured, where its metadata is and the scope to ask for; else null.
 */
export function mcpResourceHint(discovery: McpDiscovery | null, route: Pick<RouteInfo, "pattern" | "project_id">): { metadataUrl: string; scope: string } | null {
  if (discovery === null || route.pattern !== MCP_ENDPOINT_ROUTE || route.project_id === null || !ID_RE.test(route.project_id)) return null;
  return { metadataUrl: resourceMetadataUrl(discovery, route.project_id), scope: MCP_CHALLENGE_SCOPE };
}
