// The decision-log decorator on its own: with info off it builds no line, and records still pass.
import { describe, expect, it } from "vitest";
import { DecisionLogAudit } from "../../src/audit/decision-log.js";
import { MemoryAudit } from "../../src/audit/memory.js";
import type { AuditRecord } from "../../src/audit/types.js";
import { createLogger, withoutRedaction } from "../../src/log.js";
import { auditRecord } from "./fixtures.js";

describe("DecisionLogAudit", () => {
  it("with info off, writes no line (nor builds one) and still records", () => {
    const inner = new MemoryAudit();
    const recorded: AuditRecord[] = [];
    const record = inner.record.bind(inner);
    inner.record = (r) => {
      recorded.push(r);
      record(r);
    };
    let lines = 0;
    const audit = new DecisionLogAudit(inner, { info: () => void lines++, isLevelEnabled: (level) => level !== "info" });
    audit.record(auditRecord({ source: "authorize" }));
    expect(lines).toBe(0);
    expect(recorded).toHaveLength(1);
  });

  it("with info on (or a logger that cannot tell), writes one line per decision", () => {
    let lines = 0;
    new DecisionLogAudit(new MemoryAudit(), { info: () => void lines++, isLevelEnabled: () => true }).record(auditRecord({ source: "gateway" }));
    new DecisionLogAudit(new MemoryAudit(), { info: () => void lines++ }).record(auditRecord({ source: "gateway" }));
    expect(lines).toBe(2);
  });

  it("writes its line through the same destination without redaction (no field of it can hold a credential); the logger it came from still redacts", () => {
    const raw: string[] = [];
    const logger = createLogger("info", { write: (s: string) => void raw.push(s) });
    const lines = withoutRedaction(logger);
    const r = auditRecord({ source: "authorize", path: "/api/v1/projects/p1/builds?access_token=SECRET" });
    new DecisionLogAudit(new MemoryAudit(), lines).record(r);
    const line = JSON.parse(raw[0]!) as Record<string, unknown>;
    expect(Object.keys(line).slice(0, 4)).toEqual(["level", "time", "service", "decision_id"]);
    expect(line).toMatchObject({ level: 30, service: "tollgate", msg: "decision", path: "/api/v1/projects/p1/builds" });
    expect(raw[0]).not.toContain("SECRET");
    lines.info({ token: "t0ken" }, "unredacted");
    logger.info({ token: "t0ken", authorization: "Bearer x", nested: { token: "t0ken" } }, "redacted");
    expect(JSON.parse(raw[1]!)).toMatchObject({ token: "t0ken" });
    expect(raw[2]).not.toContain("t0ken");
    expect(raw[2]).not.toContain("Bearer x");
    // The level follows the logger's.
    const quiet = withoutRedaction(createLogger("warn", { write: (s: string) => void raw.push(s) }));
    expect(quiet.isLevelEnabled("info")).toBe(false);
  });
});
