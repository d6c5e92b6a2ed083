import { randomUUID } from "node:crypto";
import type { AuditCounters, AuditDropReason, AuditMcp, AuditRecord } from "../../src/audit/types.js";

/** Dates with milliseconds, which every backend must keep. */
export const T0 = new Date("2030-01-02T03:04:05.678Z");
export const at = (offsetMs: number): Date => new Date(T0.getTime() + offsetMs);
export const DAY = 86_400_000;

export function auditRecord(overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    decision_id: randomUUID(),
    time: new Date(T0.getTime()),
    source: "gateway",
    subject_type: "global_token",
    user_id: "alice",
    token_id: "tok_AAAAAAAAAAAAAAAAAAAA",
    method: "GET",
    path: "/api/v1/projects/p1/builds",
    route: "/api/v1/projects/{project}/builds",
    allow: true,
    status: 200,
    reasons: [],
    rate_limit: { class: "default", limit: 600, remaining: 599, reset_s: 60 },
    upstream_status: 200,
    latency_ms: 12.5,
    action: null,
    target: null,
    client_address: "192.0.2.10",
    policy_revision: "sha256:95a85920d1c3f1f0a6a3c9f0e0d4b1a2c3d4e5f60718293a4b5c6d7e8f901234",
    user_agent: "curl/8.5.0",
    mcp: null,
    ...overrides,
  };
}

/** The MCP part of a record: a tools/call of list_builds in a session, arguments not recorded. */
export function auditMcp(overrides: Partial<AuditMcp> = {}): AuditMcp {
  return { method: "tools/call", tool: "list_builds", uri: null, id: 7, session_id: "sess-1", arguments: null, arguments_truncated: false, ...overrides };
}

/** A counter double that sums what it is told. */
export class CountingCounters implements AuditCounters {
  writtenTotal = 0;
  readonly droppedTotal: Record<AuditDropReason, number> = { queue_full: 0, write_failed: 0, invalid: 0 };
  written(n: number): void {
    this.writtenTotal += n;
  }
  dropped(n: number, why: AuditDropReason): void {
    this.droppedTotal[why] += n;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls until `check` is true or the deadline passes (then fails with `what`). The deadline only
 * turns a hang into a message: generous, so a loaded machine does not fail it.
 */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 60_000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}
