import { describe, expect, it } from "vitest";
import { isSessionId, sessionBinding } from "../../src/mcp/sessions.js";
import type { SubjectFact } from "../../src/policy/types.js";

describe("sessionBinding", () => {
  const mcp: Extract<SubjectFact, { type: "mcp_token" }> = { type: "mcp_token", token_id: "tok_a", user_id: "bob", system_role: "user", grants: [] };

  it("is the token id of an MCP token made by hand, and the grant's binding id of one an authorization server issued (kept across refreshes)", () => {
    expect(sessionBinding(mcp)).toBe("tok_a");
    expect(sessionBinding({ ...mcp, binding_id: "grant_7" })).toBe("grant_7");
    expect(sessionBinding({ ...mcp, token_id: "tok_b", binding_id: "grant_7" })).toBe(sessionBinding({ ...mcp, binding_id: "grant_7" }));
  });

  it("is a token's id for other tokens and the user for a session JWT, never one another's", () => {
    expect(sessionBinding({ type: "global_token", token_id: "tok_g", user_id: "bob", system_role: "user", scopes: ["read"] })).toBe("tok_g");
    expect(sessionBinding({ type: "project_token", token_id: "tok_p", project_id: "priv", scopes: ["read"] })).toBe("tok_p");
    expect(sessionBinding({ type: "user", user_id: "bob", system_role: "user" })).toBe("user:bob");
  });
});

describe("isSessionId", () => {
  it("accepts visible ASCII up to 256 characters, as MCP allows session ids", () => {
    for (const ok of ["a", "3f1c9a7e-5b2d-4c8e-9f01-a2b3c4d5e6f7", "!~{}:/", "x".repeat(256)]) expect(isSessionId(ok), ok).toBe(true);
    for (const bad of ["", " ", "a b", "é", "a\n", "x".repeat(257), "a, b "]) expect(isSessionId(bad), bad).toBe(false);
  });
});
