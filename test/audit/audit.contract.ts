import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditFilter, AuditPruner, AuditRecord, AuditSink, AuditStore } from "../../src/audit/types.js";
import { StoreValidationError } from "../../src/stores/types.js";
import { DAY, at, auditMcp, auditRecord } from "./fixtures.js";

export interface AuditFixture {
  sink: AuditSink;
  store: AuditStore & AuditPruner;
  /** Everything the backend persisted, as stored (documents for MongoDB). */
  raw(): Promise<unknown[]>;
  cleanup?: () => Promise<void>;
}

export interface AuditFixtureOptions {
  retentionDays: number;
  /** The store's clock (retention cut-off of queries). */
  now: () => Date;
}

export type AuditFixtureFactory = (options: AuditFixtureOptions) => Promise<AuditFixture>;

const RETENTION_DAYS = 30;

export function describeAuditContract(name: string, factory: AuditFixtureFactory): void {
  describe(`audit contract: ${name}`, () => {
    let fx: AuditFixture;
    let now: Date;
    beforeEach(async () => {
      now = at(DAY);
      fx = await factory({ retentionDays: RETENTION_DAYS, now: () => now });
    });
    afterEach(async () => {
      await fx.sink.close();
      await fx.cleanup?.();
    });

    const put = async (records: AuditRecord[]): Promise<void> => {
      for (const r of records) fx.sink.record(r);
      await fx.sink.flush();
    };
    const all = async (filter: Omit<AuditFilter, "limit" | "cursor"> = {}): Promise<AuditRecord[]> => {
      const out: AuditRecord[] = [];
      let cursor: string | null = null;
      do {
        const page: { records: AuditRecord[]; next_cursor: string | null } = await fx.store.query({ ...filter, limit: 1000, ...(cursor ? { cursor } : {}) });
        out.push(...page.records);
        cursor = page.next_cursor;
      } while (cursor);
      return out;
    };
    const ids = (records: AuditRecord[]) => records.map((r) => r.decision_id);

    it("record → flush → query finds it, field for field (milliseconds kept)", async () => {
      const r = auditRecord({ reasons: ["ok", "sensitive_endpoint"], latency_ms: 3.25 });
      const denied = auditRecord({ time: at(1), allow: false, status: 429, subject_type: null, user_id: null, token_id: null, rate_limit: null, upstream_status: null, route: null, source: "forward_auth" });
      await put([r, denied]);
      const page = await fx.store.query({ limit: 10 });
      expect(page).toEqual({ records: [denied, r], next_cursor: null });
      expect(page.records[1]!.time.getTime()).toBe(at(0).getTime());
      expect(Object.keys(page.records[0]!)).not.toContain("_id");
    });

    it("copies records on the way in and out", async () => {
      const r = auditRecord();
      fx.sink.record(r);
      r.reasons.push("mutated");
      r.time.setTime(0);
      r.rate_limit!.remaining = 0;
      r.user_id = "mallory";
      await fx.sink.flush();
      const [got] = (await fx.store.query({ limit: 1 })).records;
      expect(got).toMatchObject({ user_id: "alice", reasons: [], rate_limit: { remaining: 599 } });
      expect(got!.time).toEqual(at(0));
      got!.reasons.push("x");
      expect((await fx.store.query({ limit: 1 })).records[0]!.reasons).toEqual([]);
    });

    it("never stores the query string or fragment", async () => {
      const secret = "tg_glob_SECRETSECRETSECRET";
      await put([
        auditRecord({ path: `/api/v1/projects/p1/builds?access_token=${secret}&x=1` }),
        auditRecord({ path: `/api/v1/user#${secret}`, time: at(1) }),
        auditRecord({ path: `/mcp?${secret}`, time: at(2), source: "authorize", upstream_status: null }),
      ]);
      expect((await all()).map((r) => r.path).sort()).toEqual(["/api/v1/projects/p1/builds", "/api/v1/user", "/mcp"]);
      expect(JSON.stringify(await fx.raw())).not.toContain("SECRET");
    });

    it("drops an invalid record without throwing and keeps the others", async () => {
      const good = auditRecord();
      expect(() => fx.sink.record({ ...auditRecord(), status: "200" } as never)).not.toThrow();
      expect(() => fx.sink.record(null as never)).not.toThrow();
      expect(() => fx.sink.record({ ...auditRecord(), password: "x" } as never)).not.toThrow();
      fx.sink.record(good);
      await fx.sink.flush();
      expect(ids(await all())).toEqual([good.decision_id]);
    });

    it("filters by user, token, allow, since (inclusive) and until (exclusive)", async () => {
      const a1 = auditRecord({ time: at(1_000), user_id: "alice", token_id: "tok_a" });
      const a2 = auditRecord({ time: at(2_000), user_id: "alice", token_id: null, subject_type: "user", allow: false, status: 403 });
      const b1 = auditRecord({ time: at(3_000), user_id: "bob", token_id: "tok_b" });
      const p1 = auditRecord({ time: at(4_000), user_id: null, token_id: "tok_a", subject_type: "project_token", allow: false, status: 429 });
      await put([a1, a2, b1, p1]);
      expect(ids(await all())).toEqual(ids([p1, b1, a2, a1]));
      expect(ids(await all({ user_id: "alice" }))).toEqual(ids([a2, a1]));
      expect(ids(await all({ token_id: "tok_a" }))).toEqual(ids([p1, a1]));
      expect(ids(await all({ allow: false }))).toEqual(ids([p1, a2]));
      expect(ids(await all({ allow: true }))).toEqual(ids([b1, a1]));
      expect(ids(await all({ since: at(2_000) }))).toEqual(ids([p1, b1, a2]));
      expect(ids(await all({ until: at(3_000) }))).toEqual(ids([a2, a1]));
      expect(ids(await all({ since: at(2_000), until: at(4_000) }))).toEqual(ids([b1, a2]));
      expect(ids(await all({ user_id: "alice", allow: true }))).toEqual(ids([a1]));
      expect(ids(await all({ token_id: "tok_a", since: at(1_001) }))).toEqual(ids([p1]));
      expect(await all({ user_id: "nobody" })).toEqual([]);
      expect(await all({ since: at(5_000), until: at(1_000) })).toEqual([]);
    });

    it("keeps admin and CLI records field for field, and filters by source", async () => {
      const change = { subject_type: null, user_id: null, token_id: null, rate_limit: null, upstream_status: null, route: "/v1/admin/tokens/{id}", method: "DELETE", path: "/v1/admin/tokens/tok_x" };
      const admin = auditRecord({ ...change, time: at(1_000), source: "admin", subject_type: "admin_token", action: "token.revoke", target: "token:tok_x", client_address: "2001:db8::7" });
      const cli = auditRecord({ ...change, time: at(2_000), source: "cli", action: "token.revoke", target: "token:tok_y", client_address: null });
      const gateway = auditRecord({ time: at(3_000) });
      await put([admin, cli, gateway]);
      expect(await all({ source: "admin" })).toEqual([admin]);
      expect(await all({ source: "cli" })).toEqual([cli]);
      expect(ids(await all({ source: "gateway" }))).toEqual(ids([gateway]));
      expect(await all({ source: "authorize" })).toEqual([]);
      expect(ids(await all({ source: "admin", allow: true, since: at(1_000) }))).toEqual(ids([admin]));
    });

    it("keeps an MCP call's method, tool or URI, id, session and arguments field for field, and filters by tool and mcp_method", async () => {
      const mcpRoute = { method: "POST", path: "/api/v1/mcp/projects/p1/mcp", route: "/api/v1/mcp/projects/{project}/mcp", subject_type: "mcp_token" as const };
      const list = auditRecord({ ...mcpRoute, time: at(1_000), mcp: auditMcp({ method: "tools/list", tool: null, id: "a-1" }) });
      const call = auditRecord({ ...mcpRoute, time: at(2_000), mcp: auditMcp({ arguments: '{"build":"42","token":"[redacted]"}' }) });
      const trigger = auditRecord({ ...mcpRoute, time: at(3_000), allow: false, status: 403, mcp: auditMcp({ tool: "trigger_build", id: null, session_id: null, arguments: '{"ref":"ma', arguments_truncated: true }) });
      const read = auditRecord({ ...mcpRoute, time: at(4_000), mcp: auditMcp({ method: "resources/read", tool: null, uri: "demo://projects/p1/builds/42", id: 0 }) });
      const rest = auditRecord({ time: at(5_000) });
      await put([list, call, trigger, read, rest]);
      expect(await all()).toEqual([rest, read, trigger, call, list]);
      expect(ids(await all({ tool: "list_builds" }))).toEqual(ids([call]));
      expect(ids(await all({ tool: "trigger_build", allow: false }))).toEqual(ids([trigger]));
      expect(ids(await all({ mcp_method: "tools/call" }))).toEqual(ids([trigger, call]));
      expect(ids(await all({ mcp_method: "tools/list", token_id: list.token_id! }))).toEqual(ids([list]));
      expect(ids(await all({ mcp_method: "tools/call", tool: "list_builds" }))).toEqual(ids([call]));
      expect(await all({ mcp_method: "tools/list", tool: "list_builds" })).toEqual([]);
      expect(await all({ tool: "demo://projects/p1/builds/42" })).toEqual([]);
      // Paging through a filtered result.
      const page = await fx.store.query({ mcp_method: "tools/call", limit: 1 });
      expect(ids(page.records)).toEqual(ids([trigger]));
      expect(ids((await fx.store.query({ mcp_method: "tools/call", limit: 1, cursor: page.next_cursor! })).records)).toEqual(ids([call]));
    });

    it("orders newest first, ties by decision_id descending", async () => {
      const records = Array.from({ length: 12 }, (_, i) => auditRecord({ time: at((i % 3) * 1_000) }));
      await put(records);
      const expected = [...records].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.decision_id < b.decision_id ? 1 : -1));
      expect(ids(await all())).toEqual(ids(expected));
    });

    it("pages with the cursor: no duplicates, no gaps, null after the last page (also when the count divides evenly)", async () => {
      // Many records share a time: the cursor must break ties.
      const records = Array.from({ length: 21 }, (_, i) => auditRecord({ time: at(Math.floor(i / 4) * 10), user_id: i % 2 ? "alice" : "bob" }));
      await put(records);
      const expected = ids(await all());
      expect(expected).toHaveLength(21);
      for (const limit of [1, 4, 7, 20, 21, 22]) {
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        for (;;) {
          const page = await fx.store.query({ limit, ...(cursor ? { cursor } : {}) });
          pages++;
          expect(page.records.length).toBeLessThanOrEqual(limit);
          seen.push(...ids(page.records));
          if (page.next_cursor === null) break;
          expect(page.records).toHaveLength(limit);
          cursor = page.next_cursor;
        }
        expect(seen, `limit ${limit}`).toEqual(expected);
        expect(pages).toBe(Math.max(1, Math.ceil(21 / limit)));
      }
      // With a filter as well.
      const alice: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await fx.store.query({ user_id: "alice", limit: 3, ...(cursor ? { cursor } : {}) });
        alice.push(...ids(page.records));
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      expect(alice).toEqual(ids(await all({ user_id: "alice" })));
      expect(alice).toHaveLength(10);
    });

    it("keeps paging stable while newer records arrive", async () => {
      const older = Array.from({ length: 6 }, (_, i) => auditRecord({ time: at(i * 10) }));
      await put(older);
      const first = await fx.store.query({ limit: 3 });
      await put([auditRecord({ time: at(1_000) }), auditRecord({ time: at(1_001) })]);
      const second = await fx.store.query({ limit: 3, cursor: first.next_cursor! });
      expect([...ids(first.records), ...ids(second.records)]).toEqual(ids([...older].reverse()));
      expect(second.next_cursor).toBeNull();
    });

    it("rejects a malformed filter naming the field, without I/O", async () => {
      const bad: Array<[AuditFilter, string]> = [
        [{ limit: 0 }, "limit"],
        [{ limit: 1001 }, "limit"],
        [{ limit: 1.5 }, "limit"],
        [{} as AuditFilter, "limit"],
        [{ limit: 1, user_id: { $ne: null } as never }, "user_id"],
        [{ limit: 1, token_id: "" }, "token_id"],
        [{ limit: 1, since: new Date(Number.NaN) }, "since"],
        [{ limit: 1, until: "2030-01-01" as never }, "until"],
        [{ limit: 1, allow: "true" as never }, "allow"],
        [{ limit: 1, source: "console" as never }, "source"],
        [{ limit: 1, source: { $ne: null } as never }, "source"],
        [{ limit: 1, cursor: "not a cursor" }, "cursor"],
        [{ limit: 1, tool: "" }, "tool"],
        [{ limit: 1, tool: { $ne: null } as never }, "tool"],
        [{ limit: 1, mcp_method: "x".repeat(257) }, "mcp_method"],
        [{ limit: 1, mcp_method: { $exists: true } as never }, "mcp_method"],
        [{ limit: 1, cursor: Buffer.from("[1,2]").toString("base64url") }, "cursor"],
        [{ limit: 1, cursor: Buffer.from('{"a":1}').toString("base64url") }, "cursor"],
        [{ limit: 1, extra: 1 } as AuditFilter, "extra"],
      ];
      for (const [filter, field] of bad) {
        const err = await fx.store.query(filter).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err, JSON.stringify(filter)).toBeInstanceOf(StoreValidationError);
        expect((err as StoreValidationError).field, JSON.stringify(filter)).toBe(field);
      }
    });

    it("never returns records older than the retention, and prune deletes them (idempotently)", async () => {
      const old = auditRecord({ time: at(-40 * DAY) });
      const edge = auditRecord({ time: at(DAY - RETENTION_DAYS * DAY) }); // exactly at the cut-off: kept
      const fresh = auditRecord({ time: at(0) });
      await put([old, edge, fresh]);
      expect(ids(await all())).toEqual(ids([fresh, edge]));
      expect(ids(await all({ since: at(-100 * DAY) }))).toEqual(ids([fresh, edge])); // since cannot reach past it
      expect(await fx.raw()).toHaveLength(3); // still stored until pruned

      expect(await fx.store.prune(now)).toBe(1);
      expect(await fx.raw()).toHaveLength(2);
      expect(await fx.store.prune(now)).toBe(0);

      now = at(DAY + 1); // the edge record is now older than the retention
      expect(ids(await all())).toEqual(ids([fresh]));
      expect(await fx.store.prune(now)).toBe(1);
      expect(ids(await all())).toEqual(ids([fresh]));
      await expect(fx.store.prune("now" as never)).rejects.toBeInstanceOf(StoreValidationError);
    });

    it("flush and close are safe to repeat", async () => {
      await fx.sink.flush();
      await put([auditRecord()]);
      await fx.sink.flush();
      await fx.sink.close();
      await fx.sink.close();
      expect(() => fx.sink.record(auditRecord())).not.toThrow();
    });
  });
}
