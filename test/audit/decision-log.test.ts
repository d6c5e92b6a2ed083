// The decision-log decorator on its own: with info off it builds no line, and records still pass.
import { describe, expect, it } from "vitest";
import { DecisionLogAudit } from "../../src/audit/decision-log.js";
import { MemoryAudit } from "../../src/audit/memory.js";
import type { AuditRecord } from "../../src/audit/types.js";
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
});
