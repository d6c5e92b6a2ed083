import express, { type Express } from "express";
import request from "supertest";
import { beforeEach, describe, expect, it } from "vitest";
import { MemoryAudit } from "../../src/audit/memory.js";
import type { AuditFilter, AuditStore } from "../../src/audit/types.js";
import { auditRoutes, tokenAuditView } from "../../src/http/audit-routes.js";
import { errorHandler } from "../../src/http/errors.js";
import { createLogger } from "../../src/log.js";
import { BackendUnavailableError } from "../../src/stores/types.js";
import { DAY, at, auditMcp, auditRecord } from "./fixtures.js";

const logger = createLogger("silent");

function appFor(store: AuditStore): Express {
  const app = express();
  app.set("query parser", "simple");
  app.use(auditRoutes(store));
  // The owner's view as the gateway would mount it (ownership checked before; here: any id).
  app.get("/owner/:id/audit", async (req, res) => {
    res.json(await tokenAuditView(store, String(req.params.id), req.query));
  });
  app.use(errorHandler(logger));
  return app;
}

let audit: MemoryAudit;
let app: Express;
beforeEach(() => {
  audit = new MemoryAudit({ now: () => at(DAY) });
  app = appFor(audit);
});

const get = (query: string) => request(app).get(`/v1/admin/audit${query}`);

async function expect400(query: string, field: string): Promise<void> {
  const res = await get(query);
  expect(res.status, query).toBe(400);
  expect(res.body.error.code, query).toBe("invalid_request");
  expect(res.body.error.field, query).toBe(field);
}

describe("GET /v1/admin/audit", () => {
  it("answers the records newest first with ISO times and a null cursor on the last page", async () => {
    const older = auditRecord({ time: at(0) });
    const newer = auditRecord({ time: at(1_500), allow: false, status: 401, reasons: ["missing_token"], subject_type: null, user_id: null, token_id: null, rate_limit: null, upstream_status: null });
    audit.record(older);
    audit.record(newer);
    const res = await get("");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/application\/json/);
    expect(res.body).toEqual({
      records: [
        { ...newer, time: "2030-01-02T03:04:07.178Z" },
        { ...older, time: "2030-01-02T03:04:05.678Z" },
      ],
      next_cursor: null,
    });
  });

  it("defaults to 100 per page and pages with next_cursor without duplicates or gaps", async () => {
    const records = Array.from({ length: 250 }, (_, i) => auditRecord({ time: at(Math.floor(i / 3)) }));
    for (const r of records) audit.record(r);
    const first = await get("");
    expect(first.body.records).toHaveLength(100);
    expect(typeof first.body.next_cursor).toBe("string");
    const seen: string[] = first.body.records.map((r: { decision_id: string }) => r.decision_id);
    let cursor: string | null = first.body.next_cursor;
    while (cursor) {
      const page = await get(`?limit=60&cursor=${encodeURIComponent(cursor)}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.records.map((r: { decision_id: string }) => r.decision_id));
      cursor = page.body.next_cursor;
    }
    expect(seen).toHaveLength(250);
    expect(new Set(seen).size).toBe(250);
    const all = await get("?limit=1000");
    expect(all.body.records.map((r: { decision_id: string }) => r.decision_id)).toEqual(seen);
    expect(all.body.next_cursor).toBeNull();
  });

  it("filters by user_id, token_id, since, until and allow", async () => {
    const a = auditRecord({ time: at(1_000), user_id: "alice", token_id: "tok_a" });
    const b = auditRecord({ time: at(2_000), user_id: "bob", token_id: "tok_b", allow: false, status: 403 });
    const c = auditRecord({ time: at(3_000), user_id: "alice", token_id: null, subject_type: "user", allow: false, status: 429 });
    for (const r of [a, b, c]) audit.record(r);
    const ids = async (query: string) => ((await get(query)).body.records as Array<{ decision_id: string }>).map((r) => r.decision_id);
    expect(await ids("?user_id=alice")).toEqual([c.decision_id, a.decision_id]);
    expect(await ids("?token_id=tok_b")).toEqual([b.decision_id]);
    expect(await ids("?allow=false")).toEqual([c.decision_id, b.decision_id]);
    expect(await ids("?allow=true")).toEqual([a.decision_id]);
    expect(await ids(`?since=${encodeURIComponent("2030-01-02T03:04:07.678Z")}`)).toEqual([c.decision_id, b.decision_id]); // inclusive
    expect(await ids(`?until=${encodeURIComponent("2030-01-02T03:04:07.678Z")}`)).toEqual([a.decision_id]); // exclusive
    expect(await ids(`?since=${encodeURIComponent("2030-01-02T04:04:06.678+01:00")}&until=2030-01-02T03:04:08.678Z&user_id=alice`)).toEqual([a.decision_id]);
    expect(await ids(`?since=${encodeURIComponent("2030-01-02T04:04:06.679+01:00")}&until=2030-01-02T03:04:08.678Z&user_id=alice`)).toEqual([]);
    expect(await ids(`?since=${encodeURIComponent("2030-01-02T04:04:06.678+01:00")}&user_id=alice&allow=false`)).toEqual([c.decision_id]);
  });

  it("filters MCP messages by tool and mcp_method, with the others", async () => {
    const list = auditRecord({ time: at(1_000), mcp: auditMcp({ method: "tools/list", tool: null }) });
    const call = auditRecord({ time: at(2_000), mcp: auditMcp() });
    const trigger = auditRecord({ time: at(3_000), allow: false, status: 403, mcp: auditMcp({ tool: "trigger_build" }) });
    const rest = auditRecord({ time: at(4_000) });
    for (const r of [list, call, trigger, rest]) audit.record(r);
    const ids = async (query: string) => ((await get(query)).body.records as Array<{ decision_id: string }>).map((r) => r.decision_id);
    expect(await ids("?tool=trigger_build")).toEqual([trigger.decision_id]);
    expect(await ids("?mcp_method=tools%2Fcall")).toEqual([trigger.decision_id, call.decision_id]);
    expect(await ids("?mcp_method=tools/call&allow=true")).toEqual([call.decision_id]);
    expect(await ids("?mcp_method=tools/list&tool=list_builds")).toEqual([]);
    expect((await get("?tool=trigger_build")).body.records[0].mcp).toEqual(trigger.mcp);
  });

  it("answers 400 naming the field for bad input", async () => {
    await expect400("?limit=0", "limit");
    await expect400("?limit=1001", "limit");
    await expect400("?limit=abc", "limit");
    await expect400("?limit=1.5", "limit");
    await expect400("?limit=", "limit");
    await expect400("?since=2030-01-02T03:04:05", "since"); // no timezone
    await expect400("?since=yesterday", "since");
    await expect400("?until=2030-13-02T03:04:05Z", "until");
    await expect400("?since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z", "until");
    await expect400("?allow=yes", "allow");
    await expect400("?user_id=", "user_id");
    await expect400(`?user_id=${"a".repeat(257)}`, "user_id");
    await expect400("?user_id=alice&user_id=bob", "user_id");
    await expect400("?cursor=nonsense", "cursor");
    await expect400("?tool=", "tool");
    await expect400(`?tool=${"t".repeat(257)}`, "tool");
    await expect400("?tool=a&tool=b", "tool");
    await expect400("?mcp_method=%0A", "mcp_method");
    await expect400("?mcpMethod=tools/call", "mcpMethod");
    await expect400("?userid=alice", "userid"); // a mistyped filter must not widen the result
    expect((await get("?limit=1000")).status).toBe(200);
  });

  it("maps a backend that is down to 503", async () => {
    const down: AuditStore = {
      async query() {
        throw new BackendUnavailableError("mongodb", new Error("connection refused"));
      },
    };
    const res = await request(appFor(down)).get("/v1/admin/audit");
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("backend_unavailable");
  });

  it("passes the parsed filter to the store", async () => {
    const seen: AuditFilter[] = [];
    const spy: AuditStore = {
      async query(f) {
        seen.push(f);
        return { records: [], next_cursor: null };
      },
    };
    await request(appFor(spy)).get("/v1/admin/audit?user_id=alice&token_id=tok_1&since=2030-01-01T00:00:00%2B02:00&until=2030-01-02T00:00:00Z&allow=true&limit=5&cursor=abc&tool=get_build&mcp_method=tools/call");
    expect(seen).toEqual([
      { user_id: "alice", token_id: "tok_1", since: new Date("2029-12-31T22:00:00Z"), until: new Date("2030-01-02T00:00:00Z"), allow: true, limit: 5, cursor: "abc", tool: "get_build", mcp_method: "tools/call" },
    ]);
  });
});

describe("tokenAuditView (the MCP token owner's view)", () => {
  it("always restricts to the token and refuses user_id/token_id parameters", async () => {
    const mine = auditRecord({ token_id: "tok_mine", subject_type: "mcp_token" });
    const other = auditRecord({ token_id: "tok_other", subject_type: "mcp_token" });
    audit.record(mine);
    audit.record(other);
    const res = await request(app).get("/owner/tok_mine/audit?limit=10&allow=true");
    expect(res.status).toBe(200);
    expect(res.body.records.map((r: { decision_id: string }) => r.decision_id)).toEqual([mine.decision_id]);
    expect(typeof res.body.records[0].time).toBe("string");
    expect((await request(app).get("/owner/tok_mine/audit?token_id=tok_other")).body.error.field).toBe("token_id");
    expect((await request(app).get("/owner/tok_mine/audit?user_id=alice")).status).toBe(400);
    expect((await request(app).get("/owner/tok_mine/audit?limit=0")).body.error.field).toBe("limit");
    const call = auditRecord({ time: at(1), token_id: "tok_mine", subject_type: "mcp_token", mcp: auditMcp({ tool: "get_build" }) });
    audit.record(call);
    const byTool = await request(app).get("/owner/tok_mine/audit?tool=get_build&mcp_method=tools/call");
    expect(byTool.body.records.map((r: { decision_id: string }) => r.decision_id)).toEqual([call.decision_id]);
    const direct = await tokenAuditView(audit, "tok_other", undefined);
    expect(direct.records.map((r) => r.decision_id)).toEqual([other.decision_id]);
  });
});
