// Generates policies/tollgate/authz/route_tree.rego from route_table and param_types in
// policies/tollgate/authz/routes.rego (the one source of truth). `make wasm` runs it; with --check
// it only compares and exits 1 when the file is stale (run by `make test`).
//
// Shaped for both evaluators. One rule per pattern, in one function per path length, called with
// the path's segments as separate arguments; each rule's body compares its literal segments
// (`s3 == "projects"`), which OPA's Go evaluator indexes, so its rule index selects the matching
// rule in one lookup instead of evaluating a chain of candidates, and opa-wasm (which has no rule
// index) compares a few strings per rule of that length. A parameter's segment is checked for its
// type, so "restart" can never be a {restart_counter}. Where a more specific pattern overlaps a
// parameter ("temp" beside {token}) the less specific rule says the literal is not there: the
// match is the most specific pattern, the one the table's own matcher (the test oracle) picks.
// No constant object is built on the way: only the matched rule's small result.
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

const isParam = (segment: string) => segment.startsWith("{");

/**
 * Whether q is tried before p: at the first position where one has a literal and the other a
 * parameter, q has the literal (the oracle's specificity order).
 */
function before(q: string[], p: string[]): boolean {
  for (let i = 0; i < q.length; i++) {
    if (isParam(q[i]!) !== isParam(p[i]!)) return !isParam(q[i]!);
  }
  return false;
}

/** Whether some path could match both patterns of one length, parameter types aside. */
function overlap(q: string[], p: string[]): boolean {
  return q.every((segment, i) => segment === p[i] || isParam(segment) || isParam(p[i]!));
}

/**
 * What keeps pattern p from matching a path that an earlier pattern q of the same length also
 * matches: one of q's literals that stands where p has a parameter is not there. A parameter of
 * q where p has a literal, or of another type than p's parameter there, would need its type
 * checked too; no table has needed that yet, so the generator stops rather than guess.
 */
function exclusion(source: Source, q: string[], p: string[], names: string[]): string {
  const at = q.flatMap((segment, i) => (!isParam(segment) && isParam(p[i]!) ? [i] : []));
  if (q.some((segment, i) => isParam(segment) && (!isParam(p[i]!) || typeCheck(source, segment) !== typeCheck(source, p[i]!)))) {
    throw new Error(`${q.join("/")} and ${p.join("/")} overlap in a way the generator cannot order yet`);
  }
  if (at.length === 1) return `${names[at[0]!]} != ${str(q[at[0]!]!)}`;
  return `[${at.map((i) => names[i]).join(", ")}] != [${at.map((i) => str(q[i]!)).join(", ")}]`;
}

/**
 * One rule per pattern, in the function for the pattern's length. The literal segments are
 * the head's constant arguments, so OPA's Go evaluator selects the rule with its index in one
 * step, and opa-wasm compares a few strings per rule; each parameter is a variable checked for
 * its type in the body. A pattern that another, more specific one overlaps (a literal where it
 * has a parameter: "temp" beside {token}) says that literal is not there.
 */
function matchRules(source: Source, patternIds: Map<string, number>): string[] {
  const byLength = new Map<number, string[][]>();
  for (const pattern of Object.keys(source.table).sort()) {
    const segments = pattern.split("/");
    byLength.set(segments.length, [...(byLength.get(segments.length) ?? []), segments]);
  }
  const lengths = [...byLength.keys()].sort((a, b) => a - b);
  const out = lengths.map((length) => {
    const args = Array.from({ length: length - 1 }, (_, i) => `s[${i + 1}]`);
    return `_route_of_length(n, s, method) := _route_${length}(${[...args, "method"].join(", ")}) if n == ${length}`;
  });
  for (const length of lengths) {
    const patterns = byLength.get(length)!;
    const fn = `_route_${length}`;
    const args = Array.from({ length: length - 1 }, (_, i) => `s${i + 1}`);
    for (const p of patterns) {
      const pattern = p.join("/");
      const names = p.map((_, i) => `s${i}`);
      const body = p.flatMap((segment, i) => (i === 0 || isParam(segment) ? [] : [`${names[i]} == ${str(segment)}`]));
      body.push(...p.flatMap((segment, i) => (isParam(segment) ? [`${typeCheck(source, segment)}(${names[i]})`] : [])));
      for (const q of patterns) if (q !== p && before(q, p) && overlap(q, p)) body.push(exclusion(source, q, p, names));
      const params = p.flatMap((segment, i) => (isParam(segment) ? [`${str(segment.slice(1, -1))}: ${names[i]}`] : []));
      const fields = [`"pattern": ${str(pattern)}`, `"namespace": ${str(source.namespaces[pattern]!)}`, `"params": {${params.join(", ")}}`, `"spec": _route_spec_${patternIds.get(pattern)}(method)`];
      const value = `{\n${fields.map((f) => `\t${f},`).join("\n")}\n}`;
      out.push(`# ${pattern}\n${fn}(${[...args, "method"].join(", ")}) := ${value} if {\n${body.map((l) => `\t${l}`).join("\n")}\n}`);
    }
  }
  return out;
}

/**
 * The method's entry for a pattern; null when the method is not listed (an unknown route). An
 * else-chain of at most a few methods: one function per pattern, so neither evaluator looks
 * at another pattern's methods.
 */
function specFunction(source: Source, pattern: string, id: number): string {
  const methods = source.table[pattern]!;
  const lines = Object.keys(methods)
    .sort()
    .map((method, i) => `${i === 0 ? `_route_spec_${id}(method) :=` : "} else :="} ${specLiteral(methods[method]!)} if {\n\tmethod == ${str(method)}`);
  lines.push("} else := null");
  return lines.join("\n");
}

/**
 * The patterns whose POST is judged by its MCP message: a GET there may carry a tools/list
 * answer (mcp_messages.rego), known without walking the tree again for POST.
 */
function mcpMessageRules(source: Source): string {
  const patterns = Object.keys(source.table)
    .sort()
    .filter((pattern) => source.table[pattern]!.POST?.mcp === true);
  const rules = patterns.map((pattern) => `_route_posts_mcp_messages(pattern) if pattern == ${str(pattern)}`);
  return ["# The patterns whose POST is judged by its MCP message.", ...rules].join("\n");
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
  const patternIds = new Map(Object.keys(source.table).sort().map((pattern, i) => [pattern, i]));
  const header = [
    "# Code generated by scripts/gen-route-tree.ts from route_table in routes.rego. DO NOT EDIT:",
    "# change the table and run `make wasm`; `make test` fails while this file is stale.",
    "#",
    "# The route lookup: one rule per pattern in one function per path length, called with the",
    '# path\'s segments (s, the path split at "/") as arguments. Each rule compares its literal',
    "# segments in its body, which OPA's Go evaluator indexes (one lookup selects the rule), and",
    "# checks its parameters' types; a pattern overlapped by a more specific one excludes that",
    "# one's literals, so the match is the most specific pattern. The shadow functions below walk",
    "# the pattern tree; only paths with an upper-case letter reach them.",
    "package tollgate.authz",
  ].join("\n");
  const parts = [
    header,
    "# The pattern a path names, its namespace, parameters and the method's entry (null when the\n" +
      "# method is not listed); undefined when no pattern matches.\n" +
      "_route_walk(s, method) := _route_of_length(count(s), s, method)",
    "# Whether a segment in a parameter's place spells a literal sibling in another case.\n_route_shadowed(s) if _route_shadow_0(s)",
    ...matchRules(source, patternIds),
    ...[...patternIds].map(([pattern, id]) => specFunction(source, pattern, id)),
    mcpMessageRules(source),
    ...shadowFunctions(nodes),
  ];
  return `${parts.join("\n\n")}\n`;
}

emit(GENERATOR, generate(readSource()));
