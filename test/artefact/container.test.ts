// The Dockerfile and compose.yaml are written, not built, here (no container engine): these checks
// hold them to what the rest of the repository says. The image runs the build, and compose sets
// only variables the documentation describes.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), "utf8");

interface Stage {
  from: string;
  name: string | null;
  instructions: Array<{ op: string; args: string }>;
}

/** The Dockerfile's stages: FROM lines and the instructions under each (comments and continuations handled). */
function stages(dockerfile: string): Stage[] {
  const lines = dockerfile.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const result: Stage[] = [];
  for (const line of lines) {
    const [, op, args] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    if (!op || args === undefined) throw new Error(`unreadable Dockerfile line: ${line}`);
    if (op.toUpperCase() === "FROM") {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args) ?? [];
      result.push({ from: from!, name: name ?? null, instructions: [] });
    } else {
      result.at(-1)!.instructions.push({ op: op.toUpperCase(), args });
    }
  }
  return result;
}

/** The variables the documentation's tables list: configuration.md's, and operations.md's production table. */
function documentedVariables(): Set<string> {
  const docs = read("docs/configuration.md") + read("docs/operations.md");
  return new Set([...docs.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1]!));
}

describe("Dockerfile", () => {
  const all = stages(read("Dockerfile"));
  const build = all[0]!;
  const runtime = all.at(-1)!;
  const args = (stage: Stage, op: string): string[] => stage.instructions.filter((i) => i.op === op).map((i) => i.args);

  it("has a build stage that compiles src/ into dist/ with the package's build script", () => {
    const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;
    const tsconfig = JSON.parse(read("tsconfig.json")) as { compilerOptions: { outDir: string; rootDir: string } };
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(build.name).not.toBeNull();
    expect(args(build, "RUN")).toContain("npm ci --no-audit --no-fund");
    expect(args(build, "RUN")).toContain("npm run build");
    expect(scripts.build).toBe("tsc -p tsconfig.json");
    expect(tsconfig.compilerOptions).toMatchObject({ outDir: "dist", rootDir: "src" });
  });

  it("runs node dist/main.js as PID 1, as a non-root user, from a slim runtime stage holding only what runs", () => {
    expect(runtime.from).toBe("node:20-slim");
    expect(args(runtime, "CMD")).toEqual(['["node", "dist/main.js"]']);
    expect(args(runtime, "ENTRYPOINT")).toEqual([]);
    expect(args(runtime, "USER")).toEqual(["node"]);
    const copies = args(runtime, "COPY");
    expect(copies).toContain(`--from=${build.name} /build/dist ./dist`);
    expect(copies).toContain(`--from=${build.name} /build/node_modules ./node_modules`);
    expect(copies.map((c) => c.split(/\s+/).at(-1))).toEqual(["./package.json", "./node_modules", "./dist", "./wasm", "./docs/openapi.json"]);
    // The production dependencies only: the build stage prunes the rest before they are copied.
    expect(args(build, "RUN")).toContain("npm prune --omit=dev --no-audit --no-fund");
    // What it copies from the build context exists and is not left out by .dockerignore.
    const ignore = read(".dockerignore");
    for (const copy of copies.filter((c) => !c.startsWith("--from="))) {
      const source = copy.split(/\s+/)[0]!;
      expect(existsSync(join(ROOT, source)), source).toBe(true);
      expect(ignore, source).toContain(`!${source}`);
    }
  });

  it("sets only documented variables", () => {
    const documented = documentedVariables();
    for (const env of args(runtime, "ENV")) expect(documented, env).toContain(env.split("=")[0]);
  });
});

describe("package.json", () => {
  it("starts the build: npm start and the tollgate command run compiled JavaScript", () => {
    const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string>; bin: Record<string, string> };
    // exec: npm passes SIGTERM to its child, which is then the server, not a shell around it.
    expect(pkg.scripts.start).toBe("exec node dist/main.js");
    expect(pkg.bin.tollgate).toBe("dist/cli/main.js");
  });
});

describe("compose.yaml", () => {
  const compose = read("compose.yaml");

  /** The keys of every `environment:` block mapping. */
  function environmentKeys(): string[] {
    const keys: string[] = [];
    const lines = compose.split("\n");
    lines.forEach((line, i) => {
      const block = /^(\s*)environment:\s*$/.exec(line);
      if (!block) return;
      for (const next of lines.slice(i + 1)) {
        const entry = /^(\s*)([A-Za-z_][A-Za-z0-9_]*):/.exec(next);
        if (/^\s*(#.*)?$/.test(next)) continue;
        if (!entry || entry[1]!.length <= block[1]!.length) break;
        keys.push(entry[2]!);
      }
    });
    return keys;
  }

  it("runs two Tollgate replicas from this Dockerfile on MongoDB and Redis", () => {
    expect(compose).toMatch(/^ {2}tollgate-1:\n {4}<<: \*tollgate$/m);
    expect(compose).toMatch(/^ {2}tollgate-2:\n {4}<<: \*tollgate$/m);
    expect(compose).toMatch(/^ {2}build: \.$/m);
    expect(compose).toMatch(/^ {2}mongodb:\n {4}image: mongo:/m);
    expect(compose).toMatch(/^ {2}redis:\n {4}image: redis:/m);
    expect(compose).not.toMatch(/^\s*(command|entrypoint):.*(tsx|npm)/m);
  });

  it("runs Redis persistent (AOF on a volume) and never evicting: it holds sessions and OAuth consumption markers", () => {
    const redis = /^ {2}redis:\n((?: {4}.*\n|\s*\n)+)/m.exec(compose)?.[1] ?? "";
    const command = /^ {4}command: (\[.*\])$/m.exec(redis)?.[1];
    const args = JSON.parse(command ?? "[]") as string[];
    const value = (flag: string) => args[args.indexOf(flag) + 1];
    expect(value("--appendonly")).toBe("yes");
    expect(value("--maxmemory-policy")).toBe("noeviction");
    expect(redis).toMatch(/^ {4}volumes:\n {6}- redis:\/data$/m);
    expect(compose).toMatch(/^volumes:\n(?: {2}\w+:\n)* {2}redis:$/m);
  });

  it("sets and reads only variables the documentation lists", () => {
    const documented = documentedVariables();
    const keys = environmentKeys();
    expect(keys).toEqual(expect.arrayContaining(["TOLLGATE_ENV", "MONGODB_URI", "REDIS_URL", "TOLLGATE_INTERNAL_PORT"]));
    const interpolated = [...compose.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
    for (const name of [...keys, ...interpolated]) expect(documented, name).toContain(name);
  });
});
