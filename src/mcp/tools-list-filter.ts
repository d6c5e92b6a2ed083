// The gateway's side of filtering tools/list: who the caller is for the ids it records, which
// request an answer is for, the revision, and the memory answers held share; the filtering
// itself is tools-list.ts.
import type { IncomingMessage } from "node:http";
import type { Verdict } from "../decision/service.js";
import { isUnavailable } from "../errors.js";
import type { JsonRpcRequestId, ToolsListRequestStore } from "../stores/types.js";
import { mcpSessionId } from "./endpoint.js";
import { sessionBinding } from "./sessions.js";
import { STATELESS_REVISION, type McpMessage } from "./jsonrpc.js";
import { HeldAnswerBudget, answerReading, looseId, type AnswerHead, type AnswerReading, type IdMatch } from "./tools-list.js";

/**
 * A caller's tools/list ids are kept this long after its last tools/list (as long as an MCP
 * session lives by default): an answer replayed on a stream resumed later than that is no
 * longer known as a tools/list answer (docs/mcp.md).
 */
export const TOOLS_LIST_ID_TTL_MS = 24 * 60 * 60 * 1000;

/** The longest JSON answer (bytes) or SSE event (characters) held to be read; past it the answer is refused. */
export const MAX_HELD_ANSWER = 16 * 1024 * 1024;

/** What all answers held at once in this process may take; past it, 503 answer_memory_exhausted rather than running out of memory. */
export const HELD_ANSWERS_BUDGET = 256 * 1024 * 1024;
const heldAnswers = new HeldAnswerBudget(HELD_ANSWERS_BUDGET);

/** How the gateway reads an allowed answer on a project's MCP endpoint. */
export type AnswerRewriter = (head: AnswerHead) => AnswerReading;

/**
 * Who asked, where: the session binding (an MCP token's binding id, so a refreshed token keeps
 * its ids as it keeps its sessions), the project and the MCP session, JSON-encoded so no two
 * callers' names can meet. JSON-RPC ids are the client's own: they are unique only within one.
 * `loose`: the name the ids' numeric readings (looseId) are kept under.
 */
export function callerOf(verdict: Verdict, projectId: string | null, sessionId: string | null, loose = false): string {
  const who = [verdict.subject === null ? null : sessionBinding(verdict.subject), projectId, sessionId];
  return JSON.stringify(loose ? ["loose", ...who] : who);
}

/**
 * The reading for an allowed request to a project's MCP endpoint. A tools/list request's id (and
 * its numeric reading) is recorded first, so any replica knows its answer; "unavailable" when it
 * cannot be (the request is then refused rather than answered unfiltered elsewhere).
 */
export async function toolsListFilter(
  req: IncomingMessage,
  verdict: Verdict,
  projectId: string | null,
  message: McpMessage | null,
  store: ToolsListRequestStore,
): Promise<AnswerRewriter | "unavailable"> {
  const caller = callerOf(verdict, projectId, mcpSessionId(req));
  const looseCaller = callerOf(verdict, projectId, mcpSessionId(req), true);
  const own = message?.kind === "request" && message.id !== null ? { id: message.id, toolsList: message.call.method === "tools/list" } : null;
  if (own?.toolsList) {
    const loose = looseId(own.id);
    try {
      await Promise.all([store.record(caller, own.id, TOOLS_LIST_ID_TTL_MS), loose === null ? undefined : store.record(looseCaller, loose, TOOLS_LIST_ID_TTL_MS)]);
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      return "unavailable";
    }
  }
  const lookup = async (id: JsonRpcRequestId): Promise<IdMatch> => {
    if (await store.has(caller, id)) return "exact";
    const loose = looseId(id);
    return loose !== null && (await store.has(looseCaller, loose)) ? "loose" : null;
  };
  const answers = {
    // Null (a policy that gives no list) shows no tool at all.
    visible: new Set(verdict.mcpTools ?? []),
    own,
    lookup,
    markPrivate: req.headers["mcp-protocol-version"] === STATELESS_REVISION,
    maxHeld: MAX_HELD_ANSWER,
    budget: heldAnswers,
  };
  return (head) => answerReading(head, answers);
}
