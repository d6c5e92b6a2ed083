import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { MemoryAudit } from "../../src/audit/memory.js";
import { auditRecordFromDecision } from "../../src/audit/record.js";
import { compareNewestFirst, normalizeAuditRecord, stripQuery, validateAuditRecord } from "../../src/audit/validate.js";
import { ThrottledWarn } from "../../src/audit/warn.js";
import type { Decision } from "../../src/decision/service.js";
import { StoreValidationError } from "../../src/stores/types.js";
import { describeAuditContract } from "./audit.contract.js";
import { CountingCounters, DAY, T0, at, auditMcp, auditRecord } from "./fixtures.js";

describeAuditContract("memory", async ({ retentionDays, now }) => {
  const audit = new MemoryAudit({ retentionDays, now });
  return {
    sink: audit,
    store: audit,
    raw: async () => audit.snapshot(),
  };
});

describe("MemoryAudit specifics", () => {
  it("is a bounded ring: the oldest are dropped and counted", async () => {
    const counters = new CountingCounters();
    const audit = new MemoryAudit({ capacity: 5, counters, now: () => at(0) });
    const records = Array.from({ length: 8 }, (_, i) => auditRecord({ time: at(i) }));
    for (const r of records) audit.record(r);
    expect(audit.size).toBe(5);
    expect(counters).toMatchObject({ writtenTotal: 8, droppedTotal: { queue_full: 3, write_failed: 0, invalid: 0 } });
    const page = await audit.query({ limit: 10 });
    expect(page.records.map((r) => r.decision_id)).toEqual(records.slice(3).reverse().map((r) => r.decision_id));
  });

  it("prune keeps the ring usable", async () => {
    const audit = new MemoryAudit({ capacity: 4, retentionDays: 1, now: () => at(0) });
    for (let i = 0; i < 6; i++) audit.record(auditRecord({ time: at(i % 2 ? -2 * DAY : 0) }));
    expect(await audit.prune(at(0))).toBe(2); // 4 kept in the ring, 2 of them old
    expect(audit.size).toBe(2);
    for (let i = 0; i < 3; i++) audit.record(auditRecord({ time: at(1) }));
    expect(audit.size).toBe(4);
    expect((await audit.query({ limit: 10 })).records).toHaveLength(4);
  });

  it("counts and warns (throttled) about invalid records", () => {
    const counters = new CountingCounters();
    const warn = vi.fn();
    const audit = new MemoryAudit({ counters, logger: { warn } });
    audit.record({ ...auditRecord(), method: "" });
    audit.record({ ...auditRecord(), method: "" });
    expect(counters.droppedTotal.invalid).toBe(2);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(audit.size).toBe(0);
  });

  it("rejects bad options", () => {
    expect(() => new MemoryAudit({ capacity: 0 })).toThrow(StoreValidationError);
    expect(() => new MemoryAudit({ retentionDays: 0 })).toThrow(StoreValidationError);
    expect(() => new MemoryAudit({ retentionDays: Number.NaN })).toThrow(StoreValidationError);
  });

  it("pages like a sorted model for any records and page size (property)", async () => {
    const arb = fc.record({
      times: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 40 }),
      limit: fc.integer({ min: 1, max: 12 }),
      users: fc.array(fc.constantFrom("alice", "bob", null), { minLength: 40, maxLength: 40 }),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ times, limit, users }) => {
        const audit = new MemoryAudit({ now: () => at(0) });
        const records = times.map((t, i) => auditRecord({ time: at(t), user_id: users[i]!, subject_type: users[i] ? "user" : null, token_id: null }));
        for (const r of records) audit.record(r);
        for (const user of [undefined, "alice"]) {
          const expected = records.filter((r) => user === undefined || r.user_id === user).sort(compareNewestFirst);
          const got: string[] = [];
          let cursor: string | undefined;
          for (;;) {
            const page = await audit.query({ limit, ...(user ? { user_id: user } : {}), ...(cursor ? { cursor } : {}) });
            got.push(...page.records.map((r) => r.decision_id));
            if (!page.next_cursor) break;
            cursor = page.next_cursor;
          }
          expect(got).toEqual(expected.map((r) => r.decision_id));
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe("audit record validation", () => {
  it("strips the query string and fragment", () => {
    expect(stripQuery("/a/b?x=1#f")).toBe("/a/b");
    expect(stripQuery("/a/b#f?x")).toBe("/a/b");
    expect(stripQuery("/a/b")).toBe("/a/b");
    expect(stripQuery("/a?")).toBe("/a");
  });

  it("normalizes at the boundary: query stripped, long path cut, id lowercased, nothing aliased", () => {
    const r = auditRecord({ path: `/x/${"a".repeat(5000)}?secret`, decision_id: "0C7E6A2E-56E2-4B8C-9B43-2F3A8E1C9D10", client_address: "f".repeat(500) });
    const n = normalizeAuditRecord(r);
    expect(n.path).toHaveLength(4096);
    // A client's X-Forwarded-For (through a trusted proxy) may be anything: cut, never dropped.
    expect(n.client_address).toHaveLength(64);
    expect(normalizeAuditRecord({ ...r, client_address: "" }).client_address).toBeNull();
    expect(n.path).not.toContain("?");
    expect(n.decision_id).toBe("0c7e6a2e-56e2-4b8c-9b43-2f3a8e1c9d10");
    expect(n.time).not.toBe(r.time);
    expect(n.reasons).not.toBe(r.reasons);
    expect(n.rate_limit).not.toBe(r.rate_limit);
  });

  it("keeps the MCP part as the client sent it, control characters percent-encoded and cut to size; never a record lost for it", () => {
    const n = normalizeAuditRecord(
      auditRecord({ mcp: auditMcp({ method: "tools/\ncall", tool: "", uri: "u".repeat(5000), id: "i\r".repeat(200), session_id: "s\u0000".repeat(300) }) }),
    );
    expect(n.mcp).toEqual({
      method: "tools/%0Acall",
      tool: "",
      uri: "u".repeat(4096),
      id: "i%0D".repeat(64),
      session_id: "s%00".repeat(64),
      arguments: null,
      arguments_truncated: false,
    });
    const r = auditRecord({ mcp: auditMcp({ id: -3 }) });
    const copy = normalizeAuditRecord(r);
    expect(copy.mcp).toEqual(r.mcp);
    expect(copy.mcp).not.toBe(r.mcp);
    expect(normalizeAuditRecord(auditRecord({ mcp: auditMcp({ id: null, session_id: null }) })).mcp).toMatchObject({ id: null, session_id: null });
  });

  it("takes every user id the stores and sessions take (the user-id alphabet)", () => {
    for (const user_id of ["auth0|abc123", "jane.doe+ci@example.com", "u".repeat(255)]) {
      expect(normalizeAuditRecord(auditRecord({ user_id })).user_id).toBe(user_id);
    }
  });

  it("names the offending field", () => {
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ decision_id: "nope" }, "decision_id"],
      [{ time: new Date(Number.NaN) }, "time"],
      [{ time: "2030-01-01T00:00:00Z" }, "time"],
      [{ source: "console" }, "source"],
      [{ subject_type: "operator" }, "subject_type"],
      [{ action: "token.revoke" }, "action"],
      [{ source: "admin", upstream_status: null, action: null }, "action"],
      [{ source: "cli", upstream_status: null, action: "Token Revoke" }, "action"],
      [{ target: "" }, "target"],
      [{ client_address: 7 }, "client_address"],
      [{ user_id: "" }, "user_id"],
      [{ user_id: { $ne: null } }, "user_id"],
      [{ user_id: "u".repeat(256) }, "user_id"],
      [{ user_id: "a b" }, "user_id"],
      [{ user_id: "用户" }, "user_id"],
      [{ token_id: "a\nb" }, "token_id"],
      [{ method: "GE T" }, "method"],
      [{ path: 5 }, "path"],
      [{ route: 5 }, "route"],
      [{ allow: "yes" }, "allow"],
      [{ status: 99 }, "status"],
      [{ status: 200.5 }, "status"],
      [{ reasons: "ok" }, "reasons"],
      [{ reasons: [""] }, "reasons[0]"],
      [{ reasons: Array.from({ length: 33 }, () => "r") }, "reasons"],
      [{ rate_limit: { class: "default", limit: 1, remaining: -1, reset_s: 0 } }, "rate_limit.remaining"],
      [{ rate_limit: { class: "default", limit: 1, remaining: 0 } }, "rate_limit.reset_s"],
      [{ rate_limit: { class: "default", limit: 1, remaining: 0, reset_s: 0, key: "x" } }, "rate_limit.key"],
      [{ upstream_status: 1000 }, "upstream_status"],
      [{ source: "authorize", upstream_status: 200 }, "upstream_status"],
      [{ latency_ms: -1 }, "latency_ms"],
      [{ latency_ms: Number.POSITIVE_INFINITY }, "latency_ms"],
      [{ authorization: "Bearer x" }, "authorization"],
      [{ mcp: "tools/call" }, "mcp"],
      [{ source: "data_api", upstream_status: null, mcp: auditMcp() }, "mcp"],
      [{ source: "admin", upstream_status: null, action: "token.revoke", mcp: auditMcp() }, "mcp"],
      [{ mcp: { ...auditMcp(), params: {} } }, "mcp.params"],
      [{ mcp: { ...auditMcp(), session_id: undefined } }, "mcp.session_id"],
      [{ mcp: auditMcp({ method: 5 as never }) }, "mcp.method"],
      [{ mcp: auditMcp({ tool: { $ne: null } as never }) }, "mcp.tool"],
      [{ mcp: auditMcp({ id: 1.5 }) }, "mcp.id"],
      [{ mcp: auditMcp({ id: true as never }) }, "mcp.id"],
      [{ mcp: auditMcp({ arguments: { a: 1 } as never }) }, "mcp.arguments"],
      [{ mcp: auditMcp({ arguments: "x".repeat(8193) }) }, "mcp.arguments"],
      [{ mcp: auditMcp({ arguments: "{}\n" }) }, "mcp.arguments"],
      [{ mcp: auditMcp({ arguments_truncated: true }) }, "mcp.arguments_truncated"],
    ];
    for (const [patch, field] of bad) {
      let err: unknown;
      try {
        normalizeAuditRecord({ ...auditRecord(), ...patch });
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(patch)).toBeInstanceOf(StoreValidationError);
      expect((err as StoreValidationError).field, JSON.stringify(patch)).toBe(field);
    }
    const { latency_ms: _, ...missing } = auditRecord();
    expect(() => validateAuditRecord(missing)).toThrow(/latency_ms/);
    expect(() => validateAuditRecord(auditRecord({ path: "/a?b" }))).toThrow(/path/);
    expect(() => validateAuditRecord(auditRecord())).not.toThrow();
  });

  it("checks the fields whatever their order: the same record reversed is taken, a missing or extra field is refused in either order", () => {
    const r = auditRecord();
    const reversed = Object.fromEntries(Object.entries(r).reverse());
    expect(normalizeAuditRecord(reversed)).toEqual(normalizeAuditRecord(r));
    const { route: _, ...withoutRoute } = r;
    for (const missing of [withoutRoute, Object.fromEntries(Object.entries(withoutRoute).reverse())]) expect(() => normalizeAuditRecord(missing)).toThrow(/route/);
    // As many fields as a record has, one of them foreign: refused in the record's order and out of it.
    const swapped = Object.fromEntries(Object.entries(r).map(([k, v]) => [k === "target" ? "secret" : k, v]));
    for (const extra of [swapped, Object.fromEntries(Object.entries(swapped).reverse())]) expect(() => normalizeAuditRecord(extra)).toThrow(StoreValidationError);
  });

  it("refuses a control character (U+0000–U+001F, U+007F) in every text field, and encodes one in the path", () => {
    for (const c of ["\u0000", "\u001f", "\u007f", "\t"]) {
      for (const field of ["token_id", "route", "target", "client_address", "policy_revision"] as const) {
        expect(() => normalizeAuditRecord(auditRecord({ [field]: `a${c}b` })), `${field} ${JSON.stringify(c)}`).toThrow(new RegExp(field));
      }
      expect(() => normalizeAuditRecord(auditRecord({ reasons: [`a${c}`] }))).toThrow(/reasons\[0\]/);
      expect(() => normalizeAuditRecord(auditRecord({ rate_limit: { class: `d${c}`, limit: 1, remaining: 0, reset_s: 0 } }))).toThrow(/rate_limit.class/);
      expect(normalizeAuditRecord(auditRecord({ path: `/a${c}b` })).path).toBe(`/a%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}b`);
    }
    // U+0080 and above are not control characters here.
    expect(normalizeAuditRecord(auditRecord({ route: "/a\u0080é" })).route).toBe("/a\u0080é");
  });

  it("builds a record from a decision (ids and credential kind only, query stripped)", () => {
    const decision: Decision = {
      allow: false,
      status: 429,
      reasons: ["rate_limited"],
      access: "read",
      route: "/api/v1/projects/{project}/builds",
      subject: { type: "mcp_token", user_id: "alice", token_id: "tok_x", project_id: null },
      granted_projects: ["p"],
      rate_limit: { class: "default", limit: 30, remaining: 0, reset_s: 12 },
      decision_id: "0c7e6a2e-56e2-4b8c-9b43-2f3a8e1c9d10",
      policy_revision: "r1",
    };
    const r = auditRecordFromDecision(decision, { source: "authorize", method: "GET", path: "/api/v1/projects/p/builds?token=s3cret", time: T0, latency_ms: 1.5, client_address: "198.51.100.7", user_agent: "agent/1.0" });
    expect(r).toEqual({
      decision_id: decision.decision_id,
      time: T0,
      source: "authorize",
      subject_type: "mcp_token",
      user_id: "alice",
      token_id: "tok_x",
      method: "GET",
      path: "/api/v1/projects/p/builds",
      route: decision.route,
      allow: false,
      status: 429,
      reasons: ["rate_limited"],
      rate_limit: { class: "default", limit: 30, remaining: 0, reset_s: 12 },
      upstream_status: null,
      latency_ms: 1.5,
      action: null,
      target: null,
      client_address: "198.51.100.7",
      policy_revision: "r1",
      user_agent: "agent/1.0",
      mcp: null,
    });
    expect(() => validateAuditRecord(r)).not.toThrow();
    const anonymous = auditRecordFromDecision({ ...decision, subject: null, rate_limit: null }, { source: "gateway", method: "POST", path: "/x", time: T0, latency_ms: 0, upstream_status: 502, status: 502, client_address: "::1" });
    expect(anonymous).toMatchObject({ subject_type: null, user_id: null, token_id: null, rate_limit: null, upstream_status: 502, status: 502, user_agent: null });
  });

  it("keeps the User-Agent with control characters percent-encoded, cut at 512 characters; empty is null", async () => {
    const audit = new MemoryAudit({ now: () => T0 });
    audit.record(auditRecord({ user_agent: "evil\r\nX-Injected: 1" }));
    audit.record(auditRecord({ user_agent: "a".repeat(2_000), time: at(1) }));
    audit.record(auditRecord({ user_agent: "", time: at(2) }));
    const agents = (await audit.query({ limit: 10 })).records.map((r) => r.user_agent);
    expect(agents).toEqual([null, "a".repeat(512), "evil%0D%0AX-Injected: 1"]);
    expect(() => validateAuditRecord(auditRecord({ policy_revision: "x".repeat(129) }))).toThrow(/policy_revision/);
  });
});

describe("ThrottledWarn", () => {
  it("logs at most once per interval and reports what it suppressed", () => {
    let now = 0;
    const warn = vi.fn();
    const t = new ThrottledWarn({ warn }, () => now);
    t.warn({ a: 1 }, "m");
    now = 59_999;
    t.warn({ a: 2 }, "m");
    t.warn({ a: 3 }, "m");
    now = 60_000;
    t.warn({ a: 4 }, "m");
    expect(warn.mock.calls).toEqual([
      [{ a: 1 }, "m"],
      [{ a: 4, suppressed_warnings: 2 }, "m"],
    ]);
    const throwing = new ThrottledWarn({ warn: () => { throw new Error("broken logger"); } });
    expect(() => throwing.warn({}, "m")).not.toThrow();
  });
});
