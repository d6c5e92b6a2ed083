import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PolicyEngine } from "../../src/policy/engine.js";
import type { PolicyInput, ProjectFact, SubjectFact } from "../../src/policy/types.js";

// Issue 7, item 1: a write route spelled differently (case, encoding, suffixes) must never be
// judged as a read. Every write route of the table (read from the Rego source, the single source
// of truth) is tried with variants of each literal segment, through the shipped WASM, by every
// subject that may not write it.
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const OPA = process.env.OPA_BIN || `${REPO_ROOT}.tools/bin/opa`;
const NOW = 1_800_000_000;

type Spec = { access: "read" | "write"; sensitive: boolean; owner_only?: boolean; anonymous?: boolean };
const routeTable = JSON.parse(
  execFileSync(OPA, ["eval", "--format", "raw", "--data", `${REPO_ROOT}policies`, "json.marshal(data.tollgate.authz.route_table)"], { encoding: "utf8" }),
) as Record<string, Record<string, Spec>>;
const engine = PolicyEngine.load(`${REPO_ROOT}wasm`);

const writeRoutes = Object.entries(routeTable).flatMap(([pattern, methods]) =>
  Object.entries(methods).filter(([, spec]) => spec.access === "write").map(([method]) => ({ method, pattern })),
);

/** A concrete value for each parameter that its type admits. */
function sample(segment: string): string {
  if (!segment.startsWith("{")) return segment;
  if (segment === "{project}") return "p1";
  if (segment === "{restart_counter}") return "2";
  return "x1";
}

const project = (publicProject: boolean, role: ProjectFact["collaborator_role"]): ProjectFact => ({ id: "p1", public: publicProject, collaborator_role: role });
const user = (system_role: "viewer" | "user" | "admin"): SubjectFact => ({ type: "user", user_id: "u1", system_role });
const liveGrant = (allow_trigger: boolean) => [{ project_id: "p1", expires_at: null, allow_trigger }];

/** Callers that may not write everywhere: each keeps only the write routes it is denied as spelled. */
const nonWriters: Array<{ name: string; subject?: SubjectFact; project: ProjectFact }> = [
  { name: "anonymous on a public project", project: project(true, null) },
  { name: "viewer session, Owner", subject: user("viewer"), project: project(false, "Owner") },
  { name: "session, not a collaborator of a public project", subject: user("user"), project: project(true, null) },
  { name: "session, Developer (no sensitive writes)", subject: user("user"), project: project(false, "Developer") },
  { name: "session, Administrator (no owner-only writes)", subject: user("user"), project: project(false, "Administrator") },
  {
    name: "read-only global token, Owner",
    subject: { type: "global_token", token_id: "t1", user_id: "u1", system_role: "user", scopes: ["read"], expires_at: null },
    project: project(false, "Owner"),
  },
  {
    name: "read-only project token",
    subject: { type: "project_token", token_id: "t2", project_id: "p1", scopes: ["read"], expires_at: null },
    project: project(false, null),
  },
  {
    name: "MCP token without allow_trigger, Developer",
    subject: { type: "mcp_token", token_id: "t3", user_id: "u1", system_role: "user", grants: liveGrant(false), expires_at: null },
    project: project(false, "Developer"),
  },
  {
    name: "MCP token of a viewer, Owner",
    subject: { type: "mcp_token", token_id: "t3", user_id: "u1", system_role: "viewer", grants: liveGrant(true), expires_at: null },
    project: project(false, "Owner"),
  },
];

function inputFor(caller: (typeof nonWriters)[number], method: string, path: string): PolicyInput {
  return {
    method,
    path,
    now: NOW,
    credential: { status: caller.subject ? "valid" : "none" },
    ...(caller.subject ? { subject: caller.subject } : {}),
    project: caller.project,
  };
}

/** Every (write route, caller) where the caller is denied the route as spelled in the table. */
const deniedWrites = writeRoutes.flatMap((route) => {
  const segments = route.pattern.split("/").map(sample);
  return nonWriters
    .filter((caller) => !engine.decide(inputFor(caller, route.method, segments.join("/"))).allow)
    .map((caller) => ({ ...route, segments, caller }));
});

const literalPositions = (pattern: string): number[] =>
  pattern.split("/").flatMap((segment, i) => (i > 0 && !segment.startsWith("{") ? [i] : []));

const hex = (c: string, lowerCase: boolean): string => {
  const h = c.charCodeAt(0).toString(16).padStart(2, "0");
  return `%${lowerCase ? h : h.toUpperCase()}`;
};

/** The spellings the review found, and their kin, for one literal segment. */
function namedVariants(literal: string): string[] {
  const first = literal[0]!;
  const rest = literal.slice(1);
  return [
    literal.toUpperCase(),
    first.toUpperCase() + rest,
    literal.replace(/[a-z]$/, (c) => c.toUpperCase()),
    `${literal};x=1`,
    `${literal};`,
    `;${literal}`,
    `${literal}.json`,
    `${literal}%3B`,
    `${literal}%3b`,
    `${literal}%20`,
    `${literal}%09`,
    `${literal}%00`,
    `${literal}%7F`,
    `${literal}%2F`,
    `${literal}%2e`,
    `${literal}.`,
    `${literal}~`,
    `${literal}-`,
    `${literal}_`,
    `${literal}1`,
    `${literal}x`,
    `${literal}${"a".repeat(15_000)}`,
    `${literal}${"%20".repeat(100)}`,
    hex(first, false) + rest,
    hex(first, true) + rest,
    literal.slice(0, -1) + hex(literal.at(-1)!, false),
    `%25${first.charCodeAt(0).toString(16)}${rest}`, // double encoding
    `%C1%${(0x80 | (first.charCodeAt(0) & 0x3f)).toString(16)}${rest}`, // overlong UTF-8
    `${literal}%C0%AE`,
    `${literal}%E0%80%AE`,
    `${literal}%C3`,
    `${literal}%80`,
    `${literal}%ED%A0%80`,
    `${literal}%F4%90%80%80`,
  ].filter((v) => v !== literal);
}

function variantPath(segments: string[], position: number, variant: string): string {
  return segments.map((s, i) => (i === position ? variant : s)).join("/");
}

describe("no spelling of a write route's literal segments is allowed to a caller that may not write it (WASM)", () => {
  it("covers every write route with at least one caller that may not write it", () => {
    expect(writeRoutes.length).toBeGreaterThan(20);
    const covered = new Set(deniedWrites.map((w) => `${w.method} ${w.pattern}`));
    expect([...covered].sort()).toEqual(writeRoutes.map((r) => `${r.method} ${r.pattern}`).sort());
  });

  it("denies the named variants (RESTART, Abort, restart;x=1, restart.json, abort%3B, restart%20, 15 KB …)", () => {
    const allowed: string[] = [];
    for (const w of deniedWrites) {
      for (const position of literalPositions(w.pattern)) {
        for (const variant of namedVariants(w.segments[position]!)) {
          const path = variantPath(w.segments, position, variant);
          const d = engine.decide(inputFor(w.caller, w.method, path));
          if (d.allow) allowed.push(`${w.caller.name}: ${w.method} ${path.slice(0, 120)} as ${d.route}`);
        }
      }
    }
    expect(allowed).toEqual([]);
  }, 300_000);

  it("denies random case, percent-encoding and suffix variants", () => {
    const w = fc.constantFrom(...deniedWrites);
    // One kind of change at a time, or all at once: an escape of a letter alone is refused
    // already, so mixing it into every probe would hide what case and suffixes do.
    const mark = { keep: 6, upper: 3, hex: 1, HEX: 1 } as const;
    const marks = (n: number, kinds: Array<keyof typeof mark>) =>
      fc.array(fc.oneof(...kinds.map((k) => ({ weight: mark[k], arbitrary: fc.constant(k) }))), { minLength: n, maxLength: n });
    const suffix = fc.constantFrom("", ";", ";x=1", ".json", ".xml", "%3B", "%3b", "%20", "%09", "%0A", "%00", "%7f", "~", ".", "%2e", "%C0%AE", "%25", "%2541", "%E2%80%8B");
    const junk = fc.stringMatching(/^[A-Za-z0-9._~-]{0,12}$/);
    const variant = (literal: string) =>
      fc.oneof(
        fc.tuple(marks(literal.length, ["keep", "upper"]), fc.constant(""), fc.constant("")),
        fc.tuple(marks(literal.length, ["keep", "hex", "HEX"]), fc.constant(""), fc.constant("")),
        fc.tuple(marks(literal.length, ["keep"]), suffix, junk),
        fc.tuple(marks(literal.length, ["keep", "upper", "hex", "HEX"]), suffix, junk),
      ).map(([m, end, more]) =>
        [...literal].map((c, i) => (m[i] === "upper" ? c.toUpperCase() : m[i] === "hex" ? hex(c, true) : m[i] === "HEX" ? hex(c, false) : c)).join("") + end + more,
      );
    const probe = w.chain((write) =>
      fc.constantFrom(...literalPositions(write.pattern)).chain((position) =>
        variant(write.segments[position]!).map((v) => ({ write, path: variantPath(write.segments, position, v), changed: v !== write.segments[position] })),
      ),
    );
    fc.assert(
      fc.property(probe, ({ write, path, changed }) => {
        fc.pre(changed);
        const d = engine.decide(inputFor(write.caller, write.method, path));
        expect({ allow: d.allow, route: d.route }).toEqual({ allow: false, route: d.route });
      }),
      { numRuns: 5000 },
    );
  }, 300_000);
});
