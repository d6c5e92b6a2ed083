import { describe, expect, it } from "vitest";
import { mcpResource, projectOfResource } from "../../src/oauth/resources.js";

const BASE = "https://tollgate.example.com";

describe("MCP resource identifiers", () => {
  it("are the public URL and the project's MCP endpoint path", () => {
    expect(mcpResource(BASE, "p1")).toBe("https://tollgate.example.com/api/v1/mcp/projects/p1/mcp");
    expect(mcpResource("https://example.com/tollgate", "p1")).toBe("https://example.com/tollgate/api/v1/mcp/projects/p1/mcp");
  });

  it("name their project only when they spell one exactly", () => {
    expect(projectOfResource(BASE, `${BASE}/api/v1/mcp/projects/p1/mcp`)).toBe("p1");
    for (const other of [
      `${BASE}/api/v1/mcp/projects/p1/mcp/`,
      `${BASE}/api/v1/mcp/projects/p1/mcp?x=1`,
      `${BASE}/api/v1/mcp/projects/p1/mcp#f`,
      `${BASE}/api/v1/mcp/projects/p1/trigger`,
      `${BASE}/api/v1/mcp/projects/../mcp`,
      `${BASE}/api/v1/mcp/projects/p%31/mcp`,
      `${BASE}/API/v1/mcp/projects/p1/mcp`,
      `https://evil.example.com/api/v1/mcp/projects/p1/mcp`,
      `http://tollgate.example.com/api/v1/mcp/projects/p1/mcp`,
      `${BASE}/api/v1/mcp/projects//mcp`,
      `${BASE}/api/v1/mcp/projects/a/b/mcp`,
      "",
    ]) {
      expect(projectOfResource(BASE, other), other).toBeNull();
    }
  });
});
