// Property: tools/list never shows a tool the same caller would be denied as tools/call, and
// shows every listed tool it would be allowed. Random grants, roles, expiries and upstream tool
// lists, against the shipped tool table and two fixture tables (each compiled once), through the
// policy's mcp_tools and the gateway's own filter (filterToolsList).
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { filterToolsList } from "../../src/mcp/tools-list.js";
import { PolicyEngine } from "../../src/policy/engine.js";
import type { CollaboratorRole, PolicyInput, SystemRole } from "../../src/policy/types.js";
import { NOW } from "../http/fixture.js";
import { compileWithToolTables, shippedToolTables, type ToolTables } from "../support/tool-table-policy.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const shipped = shippedToolTables();
const read = { access: "read", class: "default", trigger: false } as const;
/** An operator's table: a trigger write in its own class, a write without trigger, a read in the log class. */
const operator: ToolTables = {
  ...shipped,
  tools: {
    ...shipped.tools,
    deploy: { access: "write", class: "deploy", trigger: true },
    rename_build: { access: "write", class: "default", trigger: false },
    read_secret: { access: "read", class: "log", trigger: false },
  },
};
/** A large table: 24 tools of every kind, and none of the demo's. */
const large: ToolTables = {
  ...shipped,
  tools: Object.fromEntries(
    Array.from({ length: 24 }, (_, i) => [
      `tool_${i}`,
      i % 3 === 0 ? { access: "write", class: "trigger", trigger: true } : i % 3 === 1 ? { access: "write", class: "default", trigger: false } : read,
    ]),
  ),
};

const compiled: Array<{ dir: string; remove(): void }> = [];
beforeAll(() => {
  for (const tables of [operator, large]) compiled.push(compileWithToolTables(tables));
}, 240_000);
afterAll(() => compiled.forEach((c) => c.remove()));

const grant = fc.record({
  project_id: fc.constantFrom("p1", "p2"),
  allow_trigger: fc.boolean(),
  expires_at: fc.constantFrom(null, NOW - 10, NOW + 3600),
});

function callers(tables: ToolTables) {
  const names = [...Object.keys(tables.tools), "drop_tables", "LIST_BUILDS", "tool_99", ""];
  return fc.record({
    grants: fc.array(grant, { maxLength: 3 }),
    role: fc.constantFrom<CollaboratorRole | null>(null, "Developer", "Administrator", "Owner"),
    systemRole: fc.constantFrom<SystemRole>("viewer", "user", "admin"),
    method: fc.constantFrom("POST", "GET"),
    // What the upstream lists: table tools, unknown ones, repeats, any order.
    listed: fc.array(fc.constantFrom(...names), { maxLength: 30 }),
  });
}

function input(c: { grants: Array<{ project_id: string; allow_trigger: boolean; expires_at: number | null }>; role: CollaboratorRole | null; systemRole: SystemRole }, method: string, mcp?: PolicyInput["mcp"]): PolicyInput {
  return {
    method,
    path: "/api/v1/mcp/projects/p1/mcp",
    now: NOW,
    credential: { status: "valid" },
    subject: { type: "mcp_token", token_id: "m1", user_id: "u1", system_role: c.systemRole, grants: c.grants },
    project: { id: "p1", public: false, collaborator_role: c.role },
    grant_roles: { p1: c.role, p2: c.role },
    ...(mcp ? { mcp } : {}),
  };
}

describe.each([
  ["the shipped table", () => `${REPO_ROOT}wasm`, shipped],
  ["an operator's table", () => compiled[0]!.dir, operator],
  ["a large table", () => compiled[1]!.dir, large],
] as const)("%s", (_, dir, tables) => {
  it("tools/list (and the GET stream's list) shows exactly the listed tools a tools/call of the same caller is allowed", () => {
    const engine = PolicyEngine.load(dir());
    const seen = { listed: 0, hidden: 0, emptyLists: 0 };
    fc.assert(
      fc.property(callers(tables), (c) => {
        const list = engine.decide(input(c, c.method, c.method === "POST" ? { method: "tools/list" } : undefined));
        if (!list.allow) {
          expect(list.mcp_tools).toBeNull();
          return;
        }
        expect(list.mcp_tools).not.toBeNull();
        const answer = { id: 1, result: { tools: c.listed.map((name) => ({ name })) } };
        const shown = (JSON.parse(filterToolsList(answer, new Set(list.mcp_tools), false)) as typeof answer).result.tools.map((t) => t.name);
        const callable = (name: string) => engine.decide(input(c, "POST", { method: "tools/call", tool: name })).allow;
        for (const name of shown) expect(callable(name), `${name} listed for ${JSON.stringify(c)}`).toBe(true);
        expect(shown).toEqual(c.listed.filter(callable));
        seen.listed += shown.length;
        seen.hidden += c.listed.length - shown.length;
        if (shown.length === 0) seen.emptyLists++;
      }),
      { numRuns: 1500 },
    );
    // Not vacuous: tools were shown and hidden, and some callers saw none.
    for (const count of Object.values(seen)) expect(count).toBeGreaterThan(20);
  });
});
