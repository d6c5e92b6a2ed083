import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { auditMcp, recordArguments, REDACTED, TOO_DEEP } from "../../src/audit/mcp.js";
import { AUDIT_MCP_ARGUMENTS_MAX, normalizeAuditRecord } from "../../src/audit/validate.js";
import { DEFAULT_AUDIT_REDACT_KEYS } from "../../src/config/config.js";
import { auditRecord } from "./fixtures.js";

const redactKeys = new RegExp(DEFAULT_AUDIT_REDACT_KEYS, "i");

describe("auditMcp", () => {
  it("holds the call, the id and the session; never the arguments unless recording", () => {
    const facts = { id: 4, sessionId: "sess-9", arguments: { build: "42", api_key: "k" } };
    expect(auditMcp({ method: "tools/call", tool: "get_build" }, facts, null)).toEqual({
      method: "tools/call",
      tool: "get_build",
      uri: null,
      id: 4,
      session_id: "sess-9",
      arguments: null,
      arguments_truncated: false,
    });
    expect(auditMcp({ method: "resources/read", uri: "demo://projects/p/builds/1" }, undefined, { redactKeys })).toEqual({
      method: "resources/read",
      tool: null,
      uri: "demo://projects/p/builds/1",
      id: null,
      session_id: null,
      arguments: null,
      arguments_truncated: false,
    });
    expect(auditMcp({ method: "tools/call", tool: "get_build" }, facts, { redactKeys })).toMatchObject({ arguments: `{"build":"42","api_key":"${REDACTED}"}`, arguments_truncated: false });
    expect(auditMcp({ method: "tools/call", tool: "get_build" }, { id: "x", sessionId: null }, { redactKeys }).arguments).toBeNull();
  });
});

describe("recordArguments", () => {
  it("redacts the values of secret-named keys at any depth, through objects and arrays, whatever the value", () => {
    const args = {
      ref: "main",
      Password: "hunter2",
      headers: { Authorization: "Bearer tg_mcp_S3CR3T", accept: "json" },
      steps: [{ name: "deploy", env: { AWS_SECRET_ACCESS_KEY: "S3CR3T", region: "eu" } }, ["x", { session_token: { nested: "S3CR3T" } }]],
      client_secret: ["S3CR3T", "S3CR3T"],
      count: 3,
      ok: true,
      none: null,
    };
    const { text, truncated } = recordArguments(args, redactKeys);
    expect(truncated).toBe(false);
    expect(text).not.toContain("S3CR3T");
    expect(text).not.toContain("hunter2");
    expect(JSON.parse(text)).toEqual({
      ref: "main",
      Password: REDACTED,
      headers: { Authorization: REDACTED, accept: "json" },
      steps: [{ name: "deploy", env: { AWS_SECRET_ACCESS_KEY: REDACTED, region: "eu" } }, ["x", { session_token: REDACTED }]],
      client_secret: REDACTED,
      count: 3,
      ok: true,
      none: null,
    });
  });

  it("serialises what is not an object as JSON, and takes the operator's pattern", () => {
    expect(recordArguments("plain", redactKeys)).toEqual({ text: '"plain"', truncated: false });
    expect(recordArguments([1, "two"], redactKeys)).toEqual({ text: '[1,"two"]', truncated: false });
    expect(recordArguments({ pin: "1234", token: "t" }, /^pin$/i)).toEqual({ text: `{"pin":"${REDACTED}","token":"t"}`, truncated: false });
  });

  it("is bounded: cut at the maximum and marked, nested too deep replaced, however large the message", () => {
    const big = { log: "a".repeat(1_000_000), secret: "SECRET" };
    const cut = recordArguments(big, redactKeys);
    expect(cut.truncated).toBe(true);
    expect(cut.text).toHaveLength(AUDIT_MCP_ARGUMENTS_MAX);
    expect(cut.text.startsWith('{"log":"aaa')).toBe(true);
    const many = recordArguments(Array.from({ length: 100_000 }, (_, i) => ({ i, token: "SECRET" })), redactKeys);
    expect(many.truncated).toBe(true);
    expect(many.text).not.toContain("SECRET");
    let deep: unknown = { token: "SECRET" };
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const nested = recordArguments(deep, redactKeys);
    expect(nested.truncated).toBe(false);
    expect(nested.text).toBe(`${"[".repeat(32)}"${TOO_DEEP}"${"]".repeat(32)}`);
    // What is kept is a valid audit record.
    expect(() => normalizeAuditRecord(auditRecord({ mcp: { ...auditMcp({ method: "tools/call", tool: "t" }, undefined, null), arguments: cut.text, arguments_truncated: true } }))).not.toThrow();
  });

  it("never keeps a value under a key the pattern matches, nor breaks the JSON it does not cut (property)", () => {
    const secretKey = fc.constantFrom("token", "password", "apiKey", "X-Auth", "client_secret", "COOKIE");
    const leaf = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null));
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof({ depthSize: "small" }, leaf, fc.array(tie("tree"), { maxLength: 4 }), fc.dictionary(fc.oneof(fc.string(), secretKey), tie("tree"), { maxKeys: 4 })),
    }));
    fc.assert(
      fc.property(tree, (value) => {
        const { text, truncated } = recordArguments(value, redactKeys);
        expect(text.length).toBeLessThanOrEqual(AUDIT_MCP_ARGUMENTS_MAX);
        if (truncated) return;
        const back = JSON.parse(text) as unknown;
        const check = (v: unknown): void => {
          if (Array.isArray(v)) v.forEach(check);
          else if (typeof v === "object" && v !== null) {
            for (const [k, m] of Object.entries(v)) {
              if (redactKeys.test(k)) expect(m).toBe(REDACTED);
              else check(m);
            }
          }
        };
        check(back);
      }),
      { numRuns: 300 },
    );
  });
});
