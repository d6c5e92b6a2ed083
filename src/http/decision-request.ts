import type { IncomingMessage } from "node:http";
import { z } from "zod";
import { isWellFormed } from "../domain.js";
import type { AuditSource } from "../audit/types.js";
import type { Verdict } from "../decision/service.js";
import type { McpMessageFacts } from "../audit/mcp.js";
import { mcpSessionId } from "../mcp/endpoint.js";
import { callFromHeaders } from "../mcp/jsonrpc.js";
import type { McpCall } from "../policy/types.js";
import { methodOverride } from "./method-override.js";

// What every decision endpoint accepts as the request to judge. The zod schemas word the
// errors; the predicates below apply the same rules by hand on the hot path.
const METHOD_RE = /^[A-Za-z]{1,16}$/;
const PATH_MAX = 4096;
const AUTHORIZATION_MAX = 8192;
export const METHOD = z.string().regex(METHOD_RE, "must be an HTTP method such as GET");
// A lone UTF-16 surrogate cannot cross into the policy (opa-wasm throws on it): refused here.
export const PATH = z
  .string()
  .min(1)
  .max(PATH_MAX)
  .refine(isWellFormed, "must be well-formed Unicode (no lone surrogates)")
  // The caller's upstream could run the request as that other method (src/http/method-override.ts).
  .refine((path) => methodOverride(path) === null, "must not name another method (a _method query parameter)");
export const AUTHORIZATION = z.string().max(AUTHORIZATION_MAX).nullable().optional();
// The MCP message a decision endpoint is told about (the policy's input.mcp).
const MCP_NAME = z.string().min(1).max(256).refine(isWellFormed, "must be well-formed Unicode (no lone surrogates)");
export const MCP_CALL = z
  .object({ method: MCP_NAME, tool: MCP_NAME.optional(), uri: z.string().min(1).max(4096).refine(isWellFormed, "must be well-formed Unicode (no lone surrogates)").optional() })
  .strict();

/** What METHOD accepts. */
export function isMethod(v: unknown): v is string {
  return typeof v === "string" && METHOD_RE.test(v);
}

/** What PATH accepts. */
export function isPath(v: unknown): v is string {
  return typeof v === "string" && v.length >= 1 && v.length <= PATH_MAX && isWellFormed(v) && methodOverride(v) === null;
}

/** POST /v1/authorize's body. */
export const AUTHORIZE_BODY = z.object({ method: METHOD, path: PATH, authorization: AUTHORIZATION, dry_run: z.boolean().optional(), mcp: MCP_CALL.optional() }).strict();
export type AuthorizeBody = z.infer<typeof AUTHORIZE_BODY>;
const AUTHORIZE_KEYS: ReadonlySet<string> = new Set(Object.keys(AUTHORIZE_BODY.shape));

/**
 * AUTHORIZE_BODY.safeParse, with a body that is plainly valid checked by hand (the same rules,
 * no allocation but the result): anything else goes through zod, which refuses it and says why.
 */
export function parseAuthorizeBody(value: unknown): ReturnType<typeof AUTHORIZE_BODY.safeParse> {
  const plain = plainAuthorizeBody(value);
  return plain ? { success: true, data: plain } : AUTHORIZE_BODY.safeParse(value);
}

function plainAuthorizeBody(value: unknown): AuthorizeBody | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  for (const key of Object.keys(value)) if (!AUTHORIZE_KEYS.has(key)) return undefined;
  const { method, path, authorization, dry_run: dryRun, mcp } = value as Record<string, unknown>;
  // An MCP message is checked by zod (MCP_CALL), never dropped here.
  if (mcp !== undefined) return undefined;
  if (!isMethod(method) || !isPath(path)) return undefined;
  if (authorization !== undefined && authorization !== null && (typeof authorization !== "string" || authorization.length > AUTHORIZATION_MAX)) return undefined;
  if (dryRun !== undefined && typeof dryRun !== "boolean") return undefined;
  const body: AuthorizeBody = { method, path };
  if (authorization !== undefined) body.authorization = authorization;
  if (dryRun !== undefined) body.dry_run = dryRun;
  return body;
}

/**
 * What a proxy that never sees the body tells of an MCP message: Mcp-Method and Mcp-Name, once
 * each. Without Mcp-Method there is nothing (the policy answers mcp_body_required on an MCP
 * endpoint); the upstream must hold the body to the headers (MCP 2026-07-28 servers do).
 */
export function mcpCallFromHeaders(req: IncomingMessage): { mcp?: McpCall; mcpMessage?: McpMessageFacts } | { error: string } {
  const method = req.headers["mcp-method"];
  const name = req.headers["mcp-name"];
  // Node joins a repeated header; which of two values the upstream reads is not ours to guess.
  const repeated = (field: string) => req.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === field).length > 1;
  if (repeated("mcp-method") || repeated("mcp-name")) return { error: "Mcp-Method and Mcp-Name may each be sent once" };
  const call = callFromHeaders(typeof method === "string" ? method : undefined, typeof name === "string" ? name : undefined);
  if (call === undefined) return {};
  const parsed = MCP_CALL.safeParse(call);
  // The id and arguments are in the body, which a proxy does not send; the session is a header.
  return parsed.success ? { mcp: parsed.data, mcpMessage: { id: null, sessionId: mcpSessionId(req) } } : { error: "Mcp-Method or Mcp-Name is malformed" };
}

/** What a decision endpoint read from its request: the request to judge. */
export interface JudgedRequest {
  method: string;
  path: string;
  authorization: string | null;
  dryRun?: boolean;
  /** The MCP message, on a project's MCP endpoint (Mcp-Method/Mcp-Name, or /v1/authorize's `mcp`). */
  mcp?: McpCall;
  /** For its audit record: the session header a proxy passed on. */
  mcpMessage?: McpMessageFacts;
}

/** Decides one request for a decision endpoint; the service leaves its audit record (with the asking client's address). */
export type Decide = (source: AuditSource, request: JudgedRequest, client: IncomingMessage) => Promise<Verdict>;

/** The header pairs a proxy describes the request with in forward auth. */
const PAIRS = [
  { method: "X-Original-Method", uri: "X-Original-URI" }, // nginx auth_request
  { method: "X-Forwarded-Method", uri: "X-Forwarded-Uri" }, // Traefik forwardAuth
] as const;
/** Lower-cased name → the name as documented. */
const PAIR_NAMES = new Map<string, string>(PAIRS.flatMap((p) => [p.method, p.uri]).map((name) => [name.toLowerCase(), name]));

export type ForwardedRequest = { method: string; uri: string; names: string } | { error: string };

/**
 * The request a proxy asks about. A pair counts only when both its headers are present, once
 * each; a lone header of a pair, or two pairs that disagree, is refused: behind a proxy that
 * passes the client's headers on (Traefik without authRequestHeaders, Caddy) the client could
 * otherwise name the method or URI of another request.
 */
export function forwardedRequest(rawHeaders: string[]): ForwardedRequest {
  // rawHeaders, not req.headers: Node joins or drops repeated fields.
  const fields = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (PAIR_NAMES.has(name)) fields.set(name, [...(fields.get(name) ?? []), rawHeaders[i + 1]!]);
  }
  for (const [name, values] of fields) {
    if (values.length > 1) return { error: `${PAIR_NAMES.get(name)} is sent more than once` };
  }
  const complete: Array<{ method: string; uri: string; names: string }> = [];
  for (const pair of PAIRS) {
    const method = fields.get(pair.method.toLowerCase())?.[0];
    const uri = fields.get(pair.uri.toLowerCase())?.[0];
    if (method === undefined && uri === undefined) continue;
    if (method === undefined || uri === undefined) {
      const [present, missing] = method === undefined ? [pair.uri, pair.method] : [pair.method, pair.uri];
      return { error: `${present} without ${missing}: send both headers of a pair` };
    }
    complete.push({ method, uri, names: `${pair.method}/${pair.uri}` });
  }
  const [first, second] = complete;
  if (!first) return { error: "send X-Original-Method and X-Original-URI (nginx) or X-Forwarded-Method and X-Forwarded-Uri (Traefik)" };
  if (second && (second.method !== first.method || second.uri !== first.uri)) {
    return { error: `${first.names} and ${second.names} describe different requests; send one pair` };
  }
  return first;
}
