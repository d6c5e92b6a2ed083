// Compiles the shipped policy with another tool table (the three tables of tool_table.rego
// replaced) into a folder holding policy.wasm, the way `make wasm` does. For tests only: a few
// seconds per table, so compile each fixture once per file.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const OPA = process.env.OPA_BIN || join(REPO_ROOT, ".tools/bin/opa");
const TABLE = "policies/tollgate/authz/tool_table.rego";

export type Entry = { access: "read" | "write"; class: string; trigger: boolean };
export interface ToolTables {
  methods: Record<string, Entry | { by: "tool" | "uri" }>;
  tools: Record<string, Entry>;
  resources: Record<string, Entry>;
}

/** The shipped tables, as the policy reads them. */
export function shippedToolTables(): ToolTables {
  const query = 'json.marshal({"methods": data.tollgate.authz.mcp_method_table, "tools": data.tollgate.authz.mcp_tool_table, "resources": data.tollgate.authz.mcp_resource_table})';
  return JSON.parse(execFileSync(OPA, ["eval", "--format", "raw", "--data", join(REPO_ROOT, TABLE), query], { encoding: "utf8" })) as ToolTables;
}

/** A folder with the policy compiled around `tables` (dir), and how to remove it. */
export function compileWithToolTables(tables: ToolTables): { dir: string; remove(): void } {
  const work = mkdtempSync(join(tmpdir(), "tollgate-tools-"));
  cpSync(join(REPO_ROOT, "policies"), join(work, "policies"), { recursive: true });
  const source = readFileSync(join(REPO_ROOT, TABLE), "utf8");
  const tablesAt = source.indexOf("mcp_method_table :=");
  const classesAt = source.indexOf("# METADATA", tablesAt);
  const replaced = `${source.slice(0, tablesAt)}mcp_method_table := ${JSON.stringify(tables.methods)}\n\nmcp_tool_table := ${JSON.stringify(tables.tools)}\n\nmcp_resource_table := ${JSON.stringify(tables.resources)}\n\n${source.slice(classesAt)}`;
  writeFileSync(join(work, TABLE), replaced);
  execFileSync("npx", ["tsx", join(REPO_ROOT, "scripts/gen-tool-lookup.ts"), "--root", work], { cwd: REPO_ROOT, stdio: "pipe" });
  const caps = JSON.parse(readFileSync(join(REPO_ROOT, "node_modules/@open-policy-agent/opa-wasm/capabilities.json"), "utf8")) as Record<string, unknown>;
  writeFileSync(join(work, "capabilities.json"), JSON.stringify({ ...caps, features: ["rego_v1"] }));
  const entrypoints = ["tollgate/authz/decision", "tollgate/authz/route", "tollgate/admin/decision", "tollgate/grants/violations", "tollgate/authz/mcp_rate_limit_classes"];
  execFileSync(OPA, ["build", "-t", "wasm", "--capabilities", "capabilities.json", ...entrypoints.flatMap((e) => ["-e", e]), "--ignore", "*_test.rego", "-o", "bundle.tar.gz", "policies"], { cwd: work, stdio: "pipe" });
  const out = join(work, "wasm");
  mkdirSync(out);
  execFileSync("tar", ["-xzf", "bundle.tar.gz", "-C", out, "--transform", "s,^/,,", "/policy.wasm"], { cwd: work, stdio: "pipe" });
  return { dir: out, remove: () => rmSync(work, { recursive: true, force: true }) };
}
