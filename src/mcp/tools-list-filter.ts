// The gateway's side of filtering tools/list: who the caller is for the ids it records, which
// request an answer is for, and the revision; the filtering itself is tools-list.ts.
import type { IncomingMessage } from "node:http";
import type { Verdict } from "../decision/service.js";
import { isUnavailable } from "../errors.js";
import type { AnswerRewriter } from "../gateway/proxy.js";
import type { ToolsListRequestStore } from "../stores/types.js";
import { mcpSessionId } from "./endpoint.js";
import { sessionBinding } from "./sessions.js";
import { STATELESS_REVISION, type McpMessage } from "./jsonrpc.js";
import { answerRewrite } from "./tools-list.js";

/**
 * A caller's tools/list ids are kept this long after its last tools/list (as long as an MCP
 * session lives by default): an answer replayed on a stream resumed later than that is no
 * longer known as a tools/list answer (docs/mcp.md).
 */
export const TOOLS_LIST_ID_TTL_MS = 24 * 60 * 60 * 1000;

/** The longest JSON answer or SSE event held to be read (characters); past it the answer is cut off. */
export const MAX_HELD_ANSWER = 16 * 1024 * 1024;

/**
 * Who asked, where: the session binding (an MCP token's binding id, so a refreshed token keeps
 * its ids as it keeps its sessions), the project and the MCP session, JSON-encoded so no two
 * callers' names can meet. JSON-RPC ids are the client's own: they are unique only within one.
 */
export function callerOf(verdict: Verdict, projectId: string | null, sessionId: string | null): string {
  return JSON.stringify([verdict.subject === null ? null : sessionBinding(verdict.subject), projectId, sessionId]);
}

/**
 * The rewrite for an allowed request to a project's MCP endpoint. A tools/list request's id is
 * recorded first, so any replica knows its answer; "unavailable" when it cannot be (the request
 * is then refused rather than answered unfiltered elsewhere).
 */
export async function toolsListFilter(
  req: IncomingMessage,
  verdict: Verdict,
  projectId: string | null,
  message: McpMessage | null,
  store: ToolsListRequestStore,
): Promise<AnswerRewriter | "unavailable"> {
  const caller = callerOf(verdict, projectId, mcpSessionId(req));
  const own = message?.kind === "request" && message.id !== null ? { id: message.id, toolsList: message.call.method === "tools/list" } : null;
  if (own?.toolsList) {
    try {
      await store.record(caller, own.id, TOOLS_LIST_ID_TTL_MS);
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      return "unavailable";
    }
  }
  const answers = {
    // Null (a policy that gives no list) shows no tool at all.
    visible: new Set(verdict.mcpTools ?? []),
    own,
    isToolsList: (id: string | number) => store.has(caller, id),
    markPrivate: req.headers["mcp-protocol-version"] === STATELESS_REVISION,
    maxHeld: MAX_HELD_ANSWER,
  };
  return (head) => answerRewrite(head, answers);
}
