// Generates policies/tollgate/authz/tool_lookup.rego from the MCP tool table in
// policies/tollgate/authz/tool_table.rego (the one source of truth). `make wasm` runs it; with
// --check it only compares and exits 1 when the file is stale (run by `make test`).
//
// opa-wasm builds a constant object again on every evaluation that reads it (a 17-entry table:
// ~7 µs per lookup) and has no rule index, so each table becomes an else-chain of string
// comparisons that builds only the matched entry. Resource templates become one clause each,
// comparing the URI's "/"-separated segments: literals exactly, a parameter by its type.
import { fileURLToPath } from "node:url";
import { emit, readTable, type Generator } from "./lib/generated-rego.js";

// --root DIR: a copy of the repository's policies/ elsewhere (tests compile fixture tables).
const rootAt = process.argv.indexOf("--root");
const ROOT = rootAt > 0 ? `${process.argv[rootAt + 1]!.replace(/\/$/, "")}/` : fileURLToPath(new URL("../", import.meta.url));
const OPA_DEFAULT = fileURLToPath(new URL("../.tools/bin/opa", import.meta.url));
const TABLE = "policies/tollgate/authz/tool_table.rego";
const GENERATOR: Generator = {
  root: ROOT,
  opa: process.env.OPA_BIN || OPA_DEFAULT,
  source: TABLE,
  sourceName: "tool_table.rego",
  output: "policies/tollgate/authz/tool_lookup.rego",
};

type Entry = Record<string, string | boolean>;
interface Source {
  methods: Record<string, Entry>;
  tools: Record<string, Entry>;
  resources: Record<string, Entry>;
}

function readSource(): Source {
  const query =
    'json.marshal({"methods": data.tollgate.authz.mcp_method_table, "tools": data.tollgate.authz.mcp_tool_table, ' +
    '"resources": data.tollgate.authz.mcp_resource_table})';
  return readTable<Source>(GENERATOR, query);
}

const str = (value: string) => JSON.stringify(value);
const CLASS = /^[a-z][a-z0-9_]{0,31}$/;
const PARAM = /^\{([a-z][a-z0-9_]*)\}$/;
const LITERAL = /^[A-Za-z0-9._~!$&'()*+,;=:@-]+$/;

function fail(message: string): never {
  process.stderr.write(`${TABLE}: ${message}\n`);
  process.exit(1);
}

/** An entry as a Rego literal, keys sorted; refuses anything but the three fields (or a "by"). */
function entryLiteral(where: string, entry: Entry, by?: "tool" | "uri"): string {
  if (by !== undefined) {
    if (JSON.stringify(entry) !== JSON.stringify({ by })) fail(`${where} must be {"by": "${by}"}`);
  } else {
    const keys = Object.keys(entry).sort().join(",");
    if (keys !== "access,class,trigger") fail(`${where} must have exactly access, class and trigger, has ${keys}`);
    if (entry.access !== "read" && entry.access !== "write") fail(`${where}: access must be "read" or "write"`);
    if (typeof entry.class !== "string" || !CLASS.test(entry.class)) fail(`${where}: class must match ${CLASS}`);
    if (typeof entry.trigger !== "boolean") fail(`${where}: trigger must be true or false`);
  }
  return `{${Object.keys(entry)
    .sort()
    .map((k) => `${str(k)}: ${JSON.stringify(entry[k])}`)
    .join(", ")}}`;
}

/** An else-chain from a string key to its entry; undefined for any other key. */
function chain(name: string, param: string, table: Record<string, Entry>, literal: (key: string, entry: Entry) => string): string {
  const keys = Object.keys(table).sort();
  if (keys.length === 0) return `${name}(_) := null if false`;
  return keys.map((key, i) => `${i === 0 ? `${name}(${param}) :=` : "} else :="} ${literal(key, table[key]!)} if {\n\t${param} == ${str(key)}`).join("\n") + "\n}";
}

const BY: Record<string, "tool" | "uri"> = { "tools/call": "tool", "resources/read": "uri" };

function methodLiteral(method: string, entry: Entry): string {
  if (method.startsWith("rpc.") && method !== "rpc.response") fail(`method ${method}: names beginning with "rpc." are reserved by JSON-RPC`);
  return entryLiteral(`method ${method}`, entry, BY[method]);
}

/** A template's segments: "demo://projects/{project}" → ["demo:", "", "projects", "{project}"]. */
function templateSegments(template: string): string[] {
  const segments = template.split("/");
  if (!/^[a-z][a-z0-9+.-]*:$/.test(segments[0]!)) fail(`resource ${template}: must start with a lower-case scheme and ":"`);
  segments.forEach((segment, i) => {
    if (i === 0 || (i === 1 && segment === "" && segments.length > 2)) return;
    if (PARAM.test(segment)) return;
    if (segment === "." || segment === ".." || !LITERAL.test(segment)) fail(`resource ${template}: segment "${segment}" is not a literal (no dot segments, %-escapes, ?, #, empty segments) or a {parameter}`);
  });
  return segments;
}

/** Two templates that one URI could match (the same length, and at each place equal literals or a parameter). */
function overlapping(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i] || PARAM.test(s) || PARAM.test(b[i]!));
}

function resourceFunction(table: Record<string, Entry>): string {
  const templates = Object.keys(table).sort();
  const split = templates.map(templateSegments);
  split.forEach((a, i) =>
    split.slice(i + 1).forEach((b, j) => {
      if (overlapping(a, b)) fail(`resources ${templates[i]} and ${templates[i + 1 + j]} can match the same URI`);
    }),
  );
  if (templates.length === 0) return "_mcp_resource_entry(_) := null if false";
  return templates
    .map((template, i) => {
      const checks = [`count(s) == ${split[i]!.length}`];
      split[i]!.forEach((segment, at) => {
        const param = PARAM.exec(segment);
        if (!param) checks.push(`s[${at}] == ${str(segment)}`);
        else if (param[1] === "project") checks.push(`s[${at}] == _route_project`);
        else checks.push(`_is_id(s[${at}])`);
      });
      const head = i === 0 ? "_mcp_resource_entry(s) :=" : "} else :=";
      return `${head} ${entryLiteral(`resource ${template}`, table[template]!)} if {\n\t# ${template}\n${checks.map((c) => `\t${c}`).join("\n")}`;
    })
    .join("\n")
    .concat("\n}");
}

function generate(source: Source): string {
  for (const method of Object.keys(BY)) if (!(method in source.methods)) fail(`mcp_method_table must list ${method}`);
  const header = [
    "# Code generated by scripts/gen-tool-lookup.ts from the tables in tool_table.rego. DO NOT EDIT:",
    "# change the tables and run `make wasm`; `make test` fails while this file is stale.",
    "#",
    "# Each table as an else-chain that builds only the matched entry (opa-wasm would build a",
    "# constant table again on every evaluation); undefined for anything not in the table.",
    "package tollgate.authz",
  ].join("\n");
  const parts = [
    header,
    "# mcp_method_table, by JSON-RPC method.\n" + chain("_mcp_method_entry", "method", source.methods, methodLiteral),
    "# mcp_tool_table, by tool name.\n" + chain("_mcp_tool_entry", "name", source.tools, (name, entry) => entryLiteral(`tool ${name}`, entry)),
    '# mcp_resource_table, by the URI split at "/" (s).\n' + resourceFunction(source.resources),
  ];
  return `${parts.join("\n\n")}\n`;
}

emit(GENERATOR, generate(readSource()));
