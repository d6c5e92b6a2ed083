// Summarises a V8 CPU profile (node --cpu-prof, e.g. BENCH_TOLLGATE_NODE_ARGS in scripts/bench.sh):
// self time by where it was spent — Tollgate's own files, each package, Node's internals, the
// policy's WASM, GC and idle — and the top functions, as shares of the busy (non-idle) time.
//
// Samples before the first one inside src/http/ (start-up: module loading, compiling) are left out.
//
//   node --import tsx bench/cpu-profile.ts FILE.cpuprofile [top=25]
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: cpu-profile.ts FILE.cpuprofile [top]\n");
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
/** Whether a sample's stack runs through one of Tollgate's HTTP adapters: the first marks the end of start-up. */
const inHttp = (id: number | undefined): boolean => {
  for (; id !== undefined; id = parent.get(id)) if (/\/src\/http\//.test(byId.get(id)!.callFrame.url)) return true;
  return false;
};
const first = profile.samples.findIndex((id) => inHttp(id));
const self = new Map<number, number>();
profile.samples.forEach((id, i) => {
  if (i >= first) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});

/** Where a frame belongs: a package, a Tollgate file, Node's internals, or V8's own. */
function area(url: string, name: string): string {
  if (name === "(idle)") return "(idle)";
  if (name === "(garbage collector)") return "(GC)";
  if (name === "(program)") return "(program: V8, native)";
  if (url.startsWith("wasm://") || /^\$?[a-z_]*\d*$/.test(name) && url === "") return url.startsWith("wasm://") ? "policy WASM" : "(native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `npm:${pkg[1]}`;
  const src = /\/(src|bench)\/(.*)$/.exec(url);
  if (src) return `${src[1]}/${src[2]}`;
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/")[0]}`;
  return url === "" ? "(native)" : url;
}

const areas = new Map<string, number>();
const functions = new Map<string, number>();
let total = 0;
let idle = 0;
for (const [id, us] of self) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const a = area(url, functionName);
  areas.set(a, (areas.get(a) ?? 0) + us);
  total += us;
  if (a === "(idle)") idle += us;
  else {
    const key = `${functionName || "(anonymous)"} ${a}:${lineNumber + 1}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
  }
}
const busy = total - idle;
// Inclusive time of Tollgate's own functions: the sample's stack, each function counted once.
const inclusive = new Map<string, number>();
profile.samples.forEach((id, i) => {
  if (i < first) return;
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const { functionName, url } = byId.get(at)!.callFrame;
    const a = area(url, functionName);
    if (!a.startsWith("src/")) continue;
    const key = `${functionName || "(anonymous)"} ${a}`;
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
});
const pct = (us: number) => `${((100 * us) / busy).toFixed(1)} %`;
const top = Number(topArg ?? 25);
const lines = [`${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (shares below are of busy time)`, "", "| where | self |", "|---|---|"];
for (const [a, us] of [...areas].filter(([a]) => a !== "(idle)").sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`| ${a} | ${pct(us)} |`);
lines.push("", "| function | self |", "|---|---|");
for (const [f, us] of [...functions].sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`| ${f} | ${pct(us)} |`);
lines.push("", "| Tollgate function (inclusive) | total |", "|---|---|");
for (const [f, us] of [...inclusive].sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`| ${f} | ${pct(us)} |`);
process.stdout.write(`${lines.join("\n")}\n`);
