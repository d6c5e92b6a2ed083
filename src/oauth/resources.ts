// The protected resources Tollgate issues OAuth tokens for: each project's MCP endpoint,
// identified (RFC 8707, RFC 9728) by TOLLGATE_PUBLIC_URL + its path.
import { ID_RE } from "../domain.js";

const PREFIX = "/api/v1/mcp/projects/";
const SUFFIX = "/mcp";

/** The resource identifier of a project's MCP endpoint. */
export function mcpResource(publicUrl: string, projectId: string): string {
  return `${publicUrl}${PREFIX}${projectId}${SUFFIX}`;
}

/**
 * The project whose MCP endpoint `resource` names, or null. Exact comparison only: no
 * normalisation, so a trailing slash, a query, an escape or another origin names nothing.
 */
export function projectOfResource(publicUrl: string, resource: string): string | null {
  const head = publicUrl + PREFIX;
  if (!resource.startsWith(head) || !resource.endsWith(SUFFIX)) return null;
  const project = resource.slice(head.length, resource.length - SUFFIX.length);
  return ID_RE.test(project) ? project : null;
}
