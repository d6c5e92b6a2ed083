import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

/**
 * A stand-in for the protected API, so the whole gateway path can be tried without another
 * service: it answers the MCP data routes with small fixed data, runs each project's MCP
 * server (streamable HTTP, stateless), and echoes anything else. It trusts the identity headers
 * Tollgate adds, as a real upstream behind Tollgate would.
 */
export function createDemoUpstream(): Server {
  return createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: String(err) });
      else res.destroy();
    });
  });
}

const MCP_DATA = /^\/api\/v1\/mcp\/projects(?:\/([^/]+)(\/.*)?)?$/;

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://upstream");
  const identity = {
    user: header(req, "x-tollgate-user"),
    token_type: header(req, "x-tollgate-token-type"),
    token_id: header(req, "x-tollgate-token-id"),
    decision_id: header(req, "x-tollgate-decision-id"),
  };
  const match = MCP_DATA.exec(url.pathname);
  if (!match) return json(res, 200, { upstream: "tollgate demo upstream", method: req.method, path: url.pathname, identity });
  const [, project, rest = ""] = match;
  if (!project) {
    const granted = (header(req, "x-tollgate-projects") ?? "").split(",").filter(Boolean);
    return json(res, 200, { projects: granted.map((id) => ({ id })) });
  }
  if (rest === "/mcp") return mcp(project, req, res, (header(req, "x-tollgate-permissions") ?? "").split(",").includes("trigger"));
  if (rest === "") return json(res, 200, { id: project, name: project });
  if (rest === "/builds") return json(res, 200, { builds: builds(project) });
  const build = /^\/builds\/([^/]+)$/.exec(rest);
  if (build) return json(res, 200, builds(project).find((b) => b.id === build[1]) ?? { id: build[1], project, state: "unknown" });
  if (rest === "/trigger" && req.method === "POST") return json(res, 201, { build: { id: "b3", project, state: "queued", triggered_by: identity.user } });
  const job = /^\/jobs\/([^/]+)(\/logs|\/artifacts)?$/.exec(rest);
  if (job?.[2] === "/logs") {
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
    res.end(`[${job[1]}] step 1/2: build\n[${job[1]}] step 2/2: test\n[${job[1]}] finished\n`);
    return;
  }
  if (job?.[2] === "/artifacts") return json(res, 200, { artifacts: [{ name: "report.xml", size: 2048 }] });
  if (job) return json(res, 200, { id: job[1], project, state: "finished" });
  return json(res, 404, { error: "not found" });
}

function builds(project: string) {
  return [
    { id: "b1", project, state: "finished" },
    { id: "b2", project, state: "running" },
  ];
}

/**
 * One stateless MCP server per request, scoped to the project in the path. Its tools and
 * resource templates are those of the policy's default tool table (tool_table.rego), which
 * decides who may call them; the trigger tool still honours X-Tollgate-Permissions as a second
 * line of defence.
 */
async function mcp(project: string, req: IncomingMessage, res: ServerResponse, mayTrigger: boolean): Promise<void> {
  const server = new McpServer({ name: `demo-${project}`, version: "1.0.0" });
  server.registerTool("list_builds", { description: `List the builds of ${project}` }, async () => ({
    content: [{ type: "text", text: JSON.stringify(builds(project)) }],
  }));
  server.registerTool(
    "get_build",
    { description: `Get one build of ${project}`, inputSchema: { build_id: z.string() } },
    async ({ build_id }) => ({ content: [{ type: "text", text: JSON.stringify(builds(project).find((b) => b.id === build_id) ?? null) }] }),
  );
  server.registerTool("trigger_build", { description: `Start a build of ${project}` }, async () =>
    mayTrigger
      ? { content: [{ type: "text", text: JSON.stringify({ id: "b3", project, state: "queued" }) }] }
      : { isError: true, content: [{ type: "text", text: "this token may not trigger builds in this project" }] },
  );
  server.registerResource("build", new ResourceTemplate(`demo://projects/${project}/builds/{build}`, { list: undefined }), { mimeType: "application/json" }, async (uri, { build }) => ({
    contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(builds(project).find((b) => b.id === build) ?? null) }],
  }));
  server.registerResource("job_log", new ResourceTemplate(`demo://projects/${project}/jobs/{job}/logs`, { list: undefined }), { mimeType: "text/plain" }, async (uri, { job }) => ({
    contents: [{ uri: uri.href, mimeType: "text/plain", text: `[${String(job)}] finished\n` }],
  }));
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on("close", () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res);
}

function header(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  return typeof value === "string" ? value : null;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
