// Generates policies/tollgate/authz/route_tree.rego from route_table and param_types in
// policies/tollgate/authz/routes.rego (the one source of truth). `make wasm` runs it; with --check
// it only compares and exits 1 when the file is stale (run by `make test`).
//
// The tree has one Rego function per node (a distinct pattern prefix), walked by the request's
// segments: an else-chain tries the literal children first, then the typed parameter branch, and
// backtracks when a branch leads nowhere. So the first match is the most specific pattern, the
// one the table's own matcher (the test oracle) picks, and a segment that is not of its
// parameter's type ("restart" for {restart_counter}) never falls into the parameter. No
// constant object is built on the way: only the matched leaf's small result.
import { fileURLToPath } from "node:url";
import { emit, readTable, type Generator } from "./lib/generated-rego.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const GENERATOR: Generator = {
  root: ROOT,
  opa: process.env.OPA_BIN || `${ROOT}.tools/bin/opa`,
  source: "policies/tollgate/authz/routes.rego",
  sourceName: "route_table",
  output: "policies/tollgate/authz/route_tree.rego",
};
/** The Rego function that checks each parameter type (see routes.rego). */
const TYPE_CHECKS: Record<string, string> = { id: "_is_id", digits: "_is_digits" };

type Spec = Record<string, string | boolean>;
interface Source {
  table: Record<string, Record<string, Spec>>;
  types: Record<string, string>;
  namespaces: Record<string, string>;
}

interface Node {
  id: number;
  /** The pattern prefix this node stands for ("" for the root). */
  prefix: string;
  depth: number;
  literals: Map<string, Node>;
  /** Parameter children by segment ("{build}"), each with its type's check. */
  params: Map<string, Node>;
  /** Set when a pattern ends here. */
  pattern?: string;
}

function readSource(): Source {
  const query =
    "json.marshal({" +
    '"table": data.tollgate.authz.route_table, "types": data.tollgate.authz.param_types, ' +
    '"namespaces": {p: data.tollgate.authz.namespace(p) | some p, _ in data.tollgate.authz.route_table}})';
  return readTable<Source>(GENERATOR, query);
}

function buildTree(source: Source): Node[] {
  const nodes: Node[] = [];
  const node = (prefix: string, depth: number): Node => {
    const n: Node = { id: nodes.length, prefix, depth, literals: new Map(), params: new Map() };
    nodes.push(n);
    return n;
  };
  const root = node("", 0);
  for (const pattern of Object.keys(source.table).sort()) {
    let at = root;
    for (const segment of pattern.split("/").slice(1)) {
      const children = segment.startsWith("{") ? at.params : at.literals;
      let child = children.get(segment);
      if (!child) {
        child = node(`${at.prefix}/${segment}`, at.depth + 1);
        children.set(segment, child);
      }
      at = child;
    }
    at.pattern = pattern;
  }
  return nodes;
}

const str = (value: string) => JSON.stringify(value);
const sorted = <T>(map: Map<string, T>) => [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

function typeCheck(source: Source, segment: string): string {
  const name = segment.slice(1, -1);
  const type = source.types[name] ?? "id";
  const check = TYPE_CHECKS[type];
  if (!check) throw new Error(`parameter {${name}} has the unknown type ${type}`);
  return check;
}

/** A spec object as a Rego literal, keys sorted. */
function specLiteral(spec: Spec): string {
  return `{${Object.keys(spec)
    .sort()
    .map((k) => `${str(k)}: ${JSON.stringify(spec[k])}`)
    .join(", ")}}`;
}

function leaf(source: Source, n: Node): string {
  const pattern = n.pattern!;
  const segments = pattern.split("/");
  const params = segments.flatMap((segment, i) => (segment.startsWith("{") ? [`${str(segment.slice(1, -1))}: s[${i}]`] : []));
  const fields = [`"pattern": ${str(pattern)}`, `"namespace": ${str(source.namespaces[pattern]!)}`, `"params": {${params.join(", ")}}`, `"spec": _route_spec_${n.id}(method)`];
  return `{\n${fields.map((f) => `\t${f},`).join("\n")}\n}`;
}

/** The walk: the node's own pattern when the path ends here, else the children in order. */
function walkFunction(source: Source, n: Node): string {
  const next = n.depth + 1;
  const branches: Array<{ value: string; body: string[] }> = [];
  if (n.pattern) branches.push({ value: leaf(source, n), body: [`count(s) == ${next}`] });
  for (const [segment, child] of sorted(n.literals)) {
    branches.push({ value: "found", body: [`s[${next}] == ${str(segment)}`, `found := _route_node_${child.id}(s, method)`] });
  }
  for (const [segment, child] of sorted(n.params)) {
    branches.push({ value: "found", body: [`${typeCheck(source, segment)}(s[${next}])`, `found := _route_node_${child.id}(s, method)`] });
  }
  const lines = [`# ${n.prefix || "/"}`];
  branches.forEach((b, i) => {
    const head = i === 0 ? `_route_node_${n.id}(s, method) := ${b.value} if {` : `} else := ${b.value} if {`;
    lines.push(head, ...b.body.map((l) => `\t${l}`));
  });
  lines.push("}");
  return lines.join("\n");
}

/** The method's entry for a pattern; null when the method is not listed (an unknown route). */
function specFunction(source: Source, n: Node): string {
  const methods = source.table[n.pattern!]!;
  const lines = Object.keys(methods)
    .sort()
    .map((method, i) => `${i === 0 ? `_route_spec_${n.id}(method) :=` : "} else :="} ${specLiteral(methods[method]!)} if {\n\tmethod == ${str(method)}`);
  lines.push("} else := null");
  return lines.join("\n");
}

/**
 * Whether a segment in a parameter's place spells a literal sibling in another case, on some
 * pattern the path's segments line up with (a parameter standing for any segment). Only paths
 * with an upper-case letter ask, so these functions are simple rather than fast; they exist only
 * for nodes below which a literal and a parameter are siblings.
 */
function shadowFunctions(nodes: Node[]): string[] {
  const canShadow = new Map<number, boolean>();
  const shadows = (n: Node): boolean => {
    if (!canShadow.has(n.id)) {
      const here = n.literals.size > 0 && n.params.size > 0;
      const below = [...n.literals.values(), ...n.params.values()].map(shadows).some(Boolean);
      canShadow.set(n.id, here || below);
    }
    return canShadow.get(n.id)!;
  };
  const needsFits = new Set<number>();
  const markFits = (n: Node) => {
    needsFits.add(n.id);
    for (const child of [...n.literals.values(), ...n.params.values()]) markFits(child);
  };
  const out: string[] = [];
  for (const n of nodes) {
    if (!shadows(n)) continue;
    const next = n.depth + 1;
    const bodies: string[][] = [];
    for (const [segment, child] of sorted(n.literals)) {
      if (shadows(child)) bodies.push([`s[${next}] == ${str(segment)}`, `_route_shadow_${child.id}(s)`]);
    }
    for (const [, child] of sorted(n.params)) {
      if (shadows(child)) bodies.push([`_route_shadow_${child.id}(s)`]);
      if (n.literals.size > 0) {
        markFits(child);
        bodies.push([
          `lowered := lower(s[${next}])`,
          `lowered != s[${next}]`,
          `_route_literal_${n.id}(lowered)`,
          `_route_fits_${child.id}(s)`,
        ]);
      }
    }
    out.push(`# ${n.prefix || "/"}`);
    for (const body of bodies) out.push(`_route_shadow_${n.id}(s) if {\n${body.map((l) => `\t${l}`).join("\n")}\n}`);
    if (n.literals.size > 0 && n.params.size > 0) {
      for (const [segment] of sorted(n.literals)) out.push(`_route_literal_${n.id}(${str(segment)})`);
    }
  }
  for (const n of nodes) {
    if (!needsFits.has(n.id)) continue;
    const next = n.depth + 1;
    out.push(`# ${n.prefix}`);
    if (n.pattern) out.push(`_route_fits_${n.id}(s) if count(s) == ${next}`);
    for (const [segment, child] of sorted(n.literals)) {
      out.push(`_route_fits_${n.id}(s) if {\n\ts[${next}] == ${str(segment)}\n\t_route_fits_${child.id}(s)\n}`);
    }
    for (const [, child] of sorted(n.params)) out.push(`_route_fits_${n.id}(s) if _route_fits_${child.id}(s)`);
  }
  return out;
}

function generate(source: Source): string {
  const nodes = buildTree(source);
  const header = [
    "# Code generated by scripts/gen-route-tree.ts from route_table in routes.rego. DO NOT EDIT:",
    "# change the table and run `make wasm`; `make test` fails while this file is stale.",
    "#",
    "# The route tree: one function per pattern prefix, walked by the request's segments (s, the",
    '# path split at "/"). Literal children are tried before the typed parameter, and a branch that',
    "# leads nowhere falls through to the next, so the first match is the most specific pattern.",
    "package tollgate.authz",
  ].join("\n");
  const parts = [
    header,
    "# The pattern a path names, its namespace, parameters and the method's entry (null when the\n" +
      "# method is not listed); undefined when no pattern matches.\n" +
      "_route_walk(s, method) := _route_node_0(s, method)",
    "# Whether a segment in a parameter's place spells a literal sibling in another case.\n_route_shadowed(s) if _route_shadow_0(s)",
    ...nodes.map((n) => walkFunction(source, n)),
    ...nodes.filter((n) => n.pattern).map((n) => specFunction(source, n)),
    ...shadowFunctions(nodes),
  ];
  return `${parts.join("\n\n")}\n`;
}

emit(GENERATOR, generate(readSource()));
