// GET /.well-known/oauth-protected-resource/api/v1/mcp/projects/{project}/mcp: the RFC 9728
// metadata of a project's MCP endpoint, on the node:http dispatcher (every MCP client that meets
// a 401 fetches it). Public and the same for everyone: no credential read, no backend asked.
import type { IncomingMessage, ServerResponse } from "node:http";
import { projectOfMetadataPath, protectedResourceMetadata, type McpDiscovery } from "../mcp/discovery.js";
import { writeJson } from "./write-json.js";

/**
 * Changes only with the configuration (a restart): caches may keep it a while, and browsers'
 * MCP clients on other origins may read it (it carries nothing per caller).
 */
const METADATA_HEADERS = {
  "cache-control": "public, max-age=300",
  "access-control-allow-origin": "*",
  "x-content-type-options": "nosniff",
} as const;

/**
 * Answers the request when it asks for a project's metadata (GET or HEAD of its exact path, a
 * well-formed project id) and says so; false leaves it to the next handler (whose 404 is the
 * answer to every other path, and to every path without discovery configured).
 */
export function protectedResourceEndpoint(discovery: McpDiscovery): (req: IncomingMessage, res: ServerResponse, path: string) => boolean {
  return (req, res, path) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const project = projectOfMetadataPath(path);
    if (project === null) return false;
    for (const [name, value] of Object.entries(METADATA_HEADERS)) res.setHeader(name, value);
    writeJson(res, 200, protectedResourceMetadata(discovery, project));
    return true;
  };
}
