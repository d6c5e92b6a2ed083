// What an audit record holds of one MCP message: the call the policy judged, the JSON-RPC id, the
// Mcp-Session-Id as presented and, only when the operator asks (TOLLGATE_AUDIT_MCP_ARGUMENTS), its
// arguments with the values of secret-named keys redacted. Framework-free.
import type { McpCall } from "../policy/types.js";
import type { AuditMcp } from "./types.js";
import { AUDIT_MCP_ARGUMENTS_MAX } from "./validate.js";

/** What the adapter saw of the message beyond the call (nothing of it for /v1/authorize). */
export interface McpMessageFacts {
  /** The JSON-RPC id; null for a notification or when the body is not seen. */
  id: string | number | null;
  /** The Mcp-Session-Id header as received; null when absent. */
  sessionId: string | null;
  /** params.arguments as parsed; undefined when absent or not seen. */
  arguments?: unknown;
}

/** TOLLGATE_AUDIT_MCP_ARGUMENTS=true: keep arguments, redacting the values of keys TOLLGATE_AUDIT_REDACT_KEYS matches. */
export interface ArgumentsRecording {
  redactKeys: RegExp;
}

/** What stands in for the value of a secret-named key, and for anything nested deeper than MAX_DEPTH. */
export const REDACTED = "[redacted]";
export const TOO_DEEP = "[too deep]";
/** Objects and arrays nested deeper are not walked (a 1 MiB message can nest 500,000 deep). */
const MAX_DEPTH = 32;

export function auditMcp(call: McpCall, facts: McpMessageFacts | undefined, recording: ArgumentsRecording | null): AuditMcp {
  const args = recording && facts?.arguments !== undefined ? recordArguments(facts.arguments, recording.redactKeys) : null;
  return {
    method: call.method,
    tool: call.tool ?? null,
    uri: call.uri ?? null,
    id: facts?.id ?? null,
    session_id: facts?.sessionId ?? null,
    arguments: args?.text ?? null,
    arguments_truncated: args?.truncated ?? false,
  };
}

/** Thrown inside the writer once the text is longer than it may be: nothing more is serialised. */
const FULL = Symbol("full");

/**
 * The arguments as JSON text, the value of every object member whose key `redactKeys` matches
 * replaced by REDACTED at any depth (through objects and arrays), cut at
 * AUDIT_MCP_ARGUMENTS_MAX characters. Serialised by hand so that a large message costs no more
 * than the text kept: writing stops once the text is full.
 */
export function recordArguments(value: unknown, redactKeys: RegExp): { text: string; truncated: boolean } {
  const max = AUDIT_MCP_ARGUMENTS_MAX;
  let text = "";
  const put = (s: string): void => {
    text += s;
    if (text.length > max) throw FULL;
  };
  const write = (v: unknown, depth: number): void => {
    if (typeof v === "string") return put(JSON.stringify(v.length > max ? v.slice(0, max + 1) : v));
    if (typeof v !== "object" || v === null) return put(JSON.stringify(v) ?? "null");
    if (depth >= MAX_DEPTH) return put(JSON.stringify(TOO_DEEP));
    if (Array.isArray(v)) {
      put("[");
      for (let i = 0; i < v.length; i++) {
        if (i > 0) put(",");
        write(v[i], depth + 1);
      }
      return put("]");
    }
    put("{");
    let first = true;
    for (const [key, member] of Object.entries(v)) {
      if (!first) put(",");
      first = false;
      put(`${JSON.stringify(key.length > max ? key.slice(0, max + 1) : key)}:`);
      // A key is tested as sent: cutting it could cut off the part the pattern matches.
      if (redactKeys.test(key)) put(JSON.stringify(REDACTED));
      else write(member, depth + 1);
    }
    put("}");
  };
  try {
    write(value, 0);
  } catch (err) {
    if (err !== FULL) throw err;
    return { text: text.slice(0, max), truncated: true };
  }
  return { text, truncated: false };
}
