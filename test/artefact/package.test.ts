// The production artefact as it runs: `make build` compiles src/ into a package laid out as the
// Dockerfile's runtime stage lays it out (dist/, wasm/, docs/openapi.json, package.json and
// node_modules, in a temporary folder away from this checkout), then `make run`, `make run-real`,
// `npm start` and `node dist/main.js` are started there as a user or a container runtime starts them.
// Only the build is costly (~10 s); no test bounds a duration, every wait is generous.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FERRETDB_BIN, freePort } from "../support/servers.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TIMEOUT = 120_000;
const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };

/** The build's inputs are linked from this checkout; what the runtime reads is copied. */
const LINKED = ["src", "scripts", "tools", "node_modules", "Makefile", "package.json", "package-lock.json", "tsconfig.json"];

let pkg: string;

beforeAll(async () => {
  pkg = mkdtempSync(join(tmpdir(), "tollgate-artefact-"));
  for (const name of LINKED) symlinkSync(join(ROOT, name), join(pkg, name));
  cpSync(join(ROOT, "wasm"), join(pkg, "wasm"), { recursive: true });
  mkdirSync(join(pkg, "docs"));
  cpSync(join(ROOT, "docs/openapi.json"), join(pkg, "docs/openapi.json"));
  const build = started(make(["build"]));
  expect(await build.exited, build.output()).toBe(0);
  expect(existsSync(join(pkg, "dist/main.js"))).toBe(true);
}, 300_000);

afterAll(() => {
  if (pkg) rmSync(pkg, { recursive: true, force: true });
});

describe("the built package", () => {
  // What a terminal's user or a supervisor starts; SIGTERM goes to that process.
  const starters: Array<[string, (env: Env) => ChildProcess]> = [
    ["make run", (env) => make(["run"], env)],
    ["npm start", (env) => spawn("npm", ["start"], { cwd: pkg, env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] })],
  ];
  it.each(starters)("%s: starts node dist/main.js itself; SIGTERM to it stops the server, frees the port and leaves no process", { timeout: TIMEOUT }, async (_name, start) => {
    const port = await freePort();
    const run = started(start({ PORT: String(port), TOLLGATE_DEMO: "false" }));
    let processes: number[] = [];
    try {
      await until(() => httpOk(`http://127.0.0.1:${port}/healthz`), run);
      processes = descendantsOf(run.child.pid!);
      expect(processes.map(commandLine)).toEqual([["node", "dist/main.js"]]);

      run.child.kill("SIGTERM");
      await run.exited;
      // Handled (a clean shutdown), not merely killed by it.
      expect(run.output()).toMatch(/"signal":"SIGTERM"/);
      expect(processes.filter(alive)).toEqual([]);
      expect(await listening(port)).toBe(false);
    } finally {
      run.child.kill("SIGKILL");
      for (const pid of processes.filter(alive)) process.kill(pid, "SIGKILL");
    }
  });

  it("node dist/main.js from another working directory finds its policy, its OpenAPI document and its version", { timeout: TIMEOUT }, async () => {
    const port = await freePort();
    const server = started(spawn(process.execPath, [join(pkg, "dist/main.js")], { cwd: "/", env: cleanEnv({ PORT: String(port) }), stdio: ["ignore", "pipe", "pipe"] }));
    try {
      await until(() => httpOk(`http://127.0.0.1:${port}/healthz`), server);
      const openapi = await fetch(`http://127.0.0.1:${port}/openapi.json`);
      expect(openapi.status).toBe(200);
      expect(((await openapi.json()) as { paths: object }).paths).toHaveProperty("/v1/authorize");

      const revision = `sha256:${createHash("sha256").update(readFileSync(join(pkg, "wasm/policy.wasm"))).digest("hex")}`;
      const decision = await fetch(`http://127.0.0.1:${port}/v1/authorize`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ method: "GET", path: "/api/v1/projects/demo-public/builds" }),
      });
      expect(await decision.json()).toMatchObject({ allow: true, status: 200, policy_revision: revision });
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toContain(`tollgate_build_info{version="${version}",policy_revision="${revision}",node_version="${process.version}"} 1`);
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }

    const cli = started(spawn(process.execPath, [join(pkg, "dist/cli/main.js"), "--version"], { cwd: "/", env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] }));
    expect(await cli.exited).toBe(0);
    expect(cli.output()).toBe(version);
  });

  it("make run-real: Tollgate on FerretDB and redis-server; Ctrl-C stops all three and removes their data", { timeout: TIMEOUT }, async () => {
    const port = await freePort();
    // Its own process group, as in a terminal: Ctrl-C signals the whole group.
    const run = started(make(["run-real"], { PORT: String(port), FERRETDB_BIN }, { detached: true }));
    let processes: number[] = [];
    try {
      await until(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
        return res?.status === 200 && ((await res.json()) as { checks: Record<string, string> }).checks.mongodb === "ok";
      }, run);
      processes = descendantsOf(run.child.pid!);
      const ready = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { checks: Record<string, string> };
      expect(ready.checks).toMatchObject({ mongodb: "ok", redis: "ok" });
      const data = /data in (\S+) \(removed on exit\)/.exec(run.output())?.[1];
      expect(data && existsSync(data)).toBeTruthy();
      expect(processes.map(processName).sort()).toEqual(["bash", "ferretdb", "node", "redis-server"]);

      process.kill(-run.child.pid!, "SIGINT");
      await run.exited;
      expect(processes.filter(alive)).toEqual([]);
      expect(existsSync(data!)).toBe(false);
      expect(await listening(port)).toBe(false);
    } finally {
      // After a failure: whatever is left of it, the servers included (they have sessions of their own).
      if (run.child.exitCode === null && run.child.signalCode === null) process.kill(-run.child.pid!, "SIGKILL");
      for (const pid of processes.filter(alive)) process.kill(pid, "SIGKILL");
    }
  });
});

// ---------------------------------------------------------------------------------- helpers

type Env = Record<string, string | undefined>;

/** This environment without Tollgate's settings, nor those of a `make` this test may run under. */
function cleanEnv(overrides: Env = {}): NodeJS.ProcessEnv {
  const env: Env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith("TOLLGATE_") || ["MONGODB_URI", "MONGODB_DB", "REDIS_URL", "PORT", "HOST", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"].includes(key)) delete env[key];
  }
  return { ...env, ...overrides } as NodeJS.ProcessEnv;
}

/** `make TARGET` in the package; its prerequisites are taken as made (built once, tools installed). */
function make(targets: string[], env: Env = {}, options: { detached?: boolean } = {}): ChildProcess {
  const made = ["node_modules/.stamp", join(pkg, ".tools/bin/ferretdb"), ...(targets[0] === "build" ? [] : ["build"])];
  const args = ["--no-print-directory", ...made.flatMap((target) => ["-o", target]), ...targets];
  return spawn("make", args, { cwd: pkg, env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"], detached: options.detached ?? false });
}

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function started(child: ChildProcess): Started {
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return { child, output: () => output.trim(), exited };
}

/** Polls until `probe` is true; fails with the output if the process exits first or a minute passes. */
async function until(probe: () => Promise<boolean>, started: Started): Promise<void> {
  let exited = false;
  void started.exited.then(() => (exited = true));
  const deadline = Date.now() + 60_000;
  while (!(await probe().catch(() => false))) {
    if (exited || Date.now() > deadline) throw new Error(`${exited ? "exited" : "not ready after 60 s"}:\n${started.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function httpOk(url: string): Promise<boolean> {
  return (await fetch(url)).ok;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

/** /proc/PID/stat: the state and the parent's pid (after the command name, which may hold spaces). */
function stat(pid: number): { state: string; ppid: number } | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ");
    return { state: fields[0]!, ppid: Number(fields[1]) };
  } catch {
    return null;
  }
}

/** Running: present and not a zombie. */
const alive = (pid: number): boolean => (stat(pid)?.state ?? "Z") !== "Z";

function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((p) => stat(p)?.ppid === pid);
}

function descendantsOf(pid: number): number[] {
  return childrenOf(pid).flatMap((child) => [child, ...descendantsOf(child)]);
}

function processName(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
}

function commandLine(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
}
