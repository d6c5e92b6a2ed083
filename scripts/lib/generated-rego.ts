// What both Rego generators (gen-route-tree.ts, gen-tool-lookup.ts) share: reading their source
// table with `opa eval` from its own file, and writing (or, with --check, comparing) the output.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

export interface Generator {
  /** The repository (or a copy of its policies/) the paths below are relative to, ending in "/". */
  root: string;
  opa: string;
  /** The source file, read on its own: a stale or broken output must not stop its own regeneration. */
  source: string;
  /** What the source holds, for messages ("route_table"). */
  sourceName: string;
  output: string;
}

/** Evaluates `query` (a json.marshal(...) expression) against the source file alone. */
export function readTable<T>(g: Generator, query: string): T {
  try {
    const raw = execFileSync(g.opa, ["eval", "--format", "raw", "--data", g.source, query], { cwd: g.root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return JSON.parse(raw) as T;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? String(err);
    process.stderr.write(`cannot read ${g.sourceName} from ${g.source} on its own:\n${stderr}`);
    process.exit(1);
  }
}

/** Formats `text` with `opa fmt`, then writes it, or with --check exits 1 when the file differs. */
export function emit(g: Generator, text: string): void {
  const generated = execFileSync(g.opa, ["fmt", "--v1-compatible"], { input: text, encoding: "utf8" });
  const target = `${g.root}${g.output}`;
  if (process.argv.includes("--check")) {
    let current = "";
    try {
      current = readFileSync(target, "utf8");
    } catch {
      // a missing file is stale
    }
    if (current !== generated) {
      process.stderr.write(`${g.output} is stale: ${g.sourceName} changed since the last 'make wasm'. Run 'make wasm' and commit both.\n`);
      process.exit(1);
    }
    process.stdout.write(`==> ${g.output} matches ${g.sourceName}\n`);
  } else {
    writeFileSync(target, generated);
    process.stdout.write(`==> ${g.output} generated\n`);
  }
}
