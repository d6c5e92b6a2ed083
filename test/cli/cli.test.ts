// The `tollgate` CLI as a user runs it: a child process (node --import tsx src/cli/main.ts) against a
// real FerretDB. Child processes are the cost here (~0.5 s for --help and usage errors, ~1.5 s for
// a command that opens the database), so the tests run concurrently, a few children at a time.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { MongoClient, type Db } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MongoAuditSink } from "../../src/audit/mongo/sink.js";
import type { AuditRecord } from "../../src/audit/types.js";
import { failFastMongoOptions } from "../../src/stores/mongo/client.js";
import { MongoDirectoryStore } from "../../src/stores/mongo/directory-store.js";
import { MongoTokenStore } from "../../src/stores/mongo/token-store.js";
import { hashToken } from "../../src/tokens/format.js";
import { freePort, startFerretDb, type MongoServer } from "../support/servers.js";
import { auditRecord } from "../audit/fixtures.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const TIMEOUT = 45_000;

let server: MongoServer;
let client: MongoClient;
let db: Db;
let directory: MongoDirectoryStore;
let tokens: MongoTokenStore;

beforeAll(async () => {
  server = await startFerretDb();
  client = new MongoClient(server.uri, { ...failFastMongoOptions });
  db = client.db(server.dbName);
  directory = new MongoDirectoryStore(db);
  tokens = new MongoTokenStore(db);
  await directory.putProject({ id: "p1", name: "Project one", public: false });
  await directory.putProject({ id: "p2", name: "Project two", public: true });
  // Tokens are issued to known users only, as through the admin API.
  for (const id of ["alice", "tina"]) await directory.putUser({ id, system_role: "user" });
});

afterAll(async () => {
  await client?.close();
  await server?.stop();
});

// ---------------------------------------------------------------------------------- running it

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** At most this many children at once: more only make each slower. */
const MAX_CHILDREN = 4;
let running = 0;
const waiting: Array<() => void> = [];

/** `first`: ahead of the queue (the multi-step tests, so that their later steps do not wait for all the rest). */
async function slot<T>(fn: () => Promise<T>, first = false): Promise<T> {
  if (running >= MAX_CHILDREN) await new Promise<void>((resolve) => (first ? waiting.unshift(resolve) : waiting.push(resolve)));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

type Env = Record<string, string | undefined>;

/** The environment a deployment's operator would have: the test database, nothing else of ours. */
function cliEnv(overrides: Env = {}): NodeJS.ProcessEnv {
  const env: Env = { ...process.env, MONGODB_URI: server.uri, MONGODB_DB: server.dbName, ...overrides };
  for (const key of Object.keys(env)) {
    if (env[key] === undefined || (key.startsWith("TOLLGATE_") && !(key in overrides))) delete env[key];
  }
  return env as NodeJS.ProcessEnv;
}

function start(args: string[], env: Env = {}): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", CLI, ...args], { cwd: ROOT, env: cliEnv(env), stdio: ["ignore", "pipe", "pipe"] });
}

function collect(child: ChildProcess): { out: () => string; err: () => string; exited: Promise<number | null> } {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return { out: () => stdout, err: () => stderr, exited };
}

function tollgate(args: string[], env: Env = {}, first = false): Promise<Result> {
  return slot(async () => {
    const child = start(args, env);
    const { out, err, exited } = collect(child);
    const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const code = await exited;
    clearTimeout(killer);
    return { code, stdout: out(), stderr: err() };
  }, first);
}

/** For the steps of a multi-step test. */
const step = (args: string[], env: Env = {}): Promise<Result> => tollgate(args, env, true);

/** A failure as the brief has it: nothing on stdout, one `tollgate: ` line on stderr, no stack. */
function expectPlainError(r: Result, exitCode: number, message: RegExp): void {
  expect({ code: r.code, stdout: r.stdout }, r.stderr).toEqual({ code: exitCode, stdout: "" });
  expect(r.stderr).toMatch(/^tollgate: [^\n]+\n$/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr).toMatch(message);
}

const json = <T>(r: Result): T => {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
};

interface TokenJson {
  id: string;
  type: string;
  name: string;
  user_id: string | null;
  project_id: string | null;
  scopes: string[];
  grants: Array<{ project_id: string; expires_at: string | null; allow_trigger: boolean }>;
  expires_at: string | null;
  revoked_at: string | null;
  token?: string;
}

// Every test runs concurrently (the multi-step ones first), at most MAX_CHILDREN children at a time.
describe.concurrent("tollgate", () => {
  // ---------------------------------------------------------------------------------- commands

  describe("commands", () => {
    it("token create (each type) → list → revoke, plain and --json", { timeout: TIMEOUT }, async () => {
      const [global, project, mcp] = await Promise.all([
        step(["token", "create", "--type", "global", "--user", "tina", "--scope", "read", "--scope", "write", "--name", "CI deploy", "--json"]),
        step(["token", "create", "--type", "project", "--project", "p1", "--expires", "2031-01-01T00:00:00Z"]),
        step(["token", "create", "--type", "mcp", "--user", "tina", "--grant", "p1:trigger@2030-06-30T12:00:00Z", "--grant", "p2", "--json"]),
      ]);

      const g = json<TokenJson>(global);
      expect(g).toMatchObject({ type: "global", name: "CI deploy", user_id: "tina", project_id: null, scopes: ["read", "write"], grants: [], revoked_at: null });
      expect(g.token).toMatch(/^tg_glb_/);
      expect(global.stderr).toMatch(/^tollgate: the token value is shown only this once/);
      // Only the hash is stored, and it is the hash of the printed value.
      expect((await tokens.findByHash(hashToken(g.token!)))?.id).toBe(g.id);

      // Plain text: the value, then the details.
      expect(project.code, project.stderr).toBe(0);
      expect(project.stderr).toMatch(/shown only this once/);
      const value = /^token:\s+(tg_prj_\S+)$/m.exec(project.stdout)?.[1];
      expect(value).toBeDefined();
      expect(project.stdout).toMatch(/^type:\s+project$/m);
      expect(project.stdout).toMatch(/^project:\s+p1$/m);
      expect(project.stdout).toMatch(/^scopes:\s+read$/m);
      expect(project.stdout).toMatch(/^expires:\s+2031-01-01T00:00:00\.000Z$/m);
      const stored = await tokens.findByHash(hashToken(value!));
      expect(stored).toMatchObject({ kind: "project", project_id: "p1", user_id: null });

      const m = json<TokenJson>(mcp);
      expect(m).toMatchObject({
        type: "mcp",
        user_id: "tina",
        scopes: [],
        grants: [
          { project_id: "p1", allow_trigger: true, expires_at: "2030-06-30T12:00:00.000Z" },
          { project_id: "p2", allow_trigger: false, expires_at: null },
        ],
      });
      expect(m.token).toMatch(/^tg_mcp_/);

      const listed = json<TokenJson[]>(await step(["token", "list", "--user", "tina", "--json"]));
      expect(listed.map((t) => t.id).sort()).toEqual([g.id, m.id].sort());
      expect(listed.every((t) => t.token === undefined)).toBe(true); // never the value again

      const revoked = json<TokenJson>(await step(["token", "revoke", g.id, "--json"]));
      expect(revoked).toMatchObject({ id: g.id, type: "global" });
      expect(revoked.revoked_at).not.toBeNull();
      expect((await tokens.get(g.id))?.revoked_at?.toISOString()).toBe(revoked.revoked_at);
    });


    it("collaborator set (a change of role) → remove, visible through the directory store", { timeout: TIMEOUT }, async () => {
      await directory.setCollaborator("p2", "cleo", "Developer");
      const set = await step(["collaborator", "set", "p2", "cleo", "Administrator"]);
      expect(set.code, set.stderr).toBe(0);
      expect(set.stdout).toBe("cleo is Administrator of p2 (was Developer)\n");
      expect(await directory.getCollaboratorRole("p2", "cleo")).toBe("Administrator");

      const removed = json<object>(await step(["collaborator", "remove", "p2", "cleo", "--json"]));
      expect(removed).toEqual({ project_id: "p2", user_id: "cleo", removed: true });
      expect(await directory.getCollaboratorRole("p2", "cleo")).toBeNull();
    });

    it("audit tail: the newest records, oldest first, --json and plain; filters", { timeout: TIMEOUT }, async () => {
      const now = Date.now();
      const records = [
        auditRecord({ user_id: "ada", token_id: "tok_ada0000000000000001", time: new Date(now - 4_000), path: "/api/v1/projects/p1/builds?page=2" }),
        auditRecord({ user_id: "ada", token_id: "tok_ada0000000000000002", time: new Date(now - 3_000), allow: false, status: 403, reasons: ["insufficient_scope"], upstream_status: null }),
        auditRecord({ user_id: "ada", token_id: "tok_ada0000000000000001", time: new Date(now - 2_000), method: "POST", path: "/api/v1/projects/p1/trigger" }),
        auditRecord({ user_id: "someone-else", token_id: null, time: new Date(now - 1_000) }),
      ];
      await writeAudit(records);

      const [all, recent] = await Promise.all([
        step(["audit", "tail", "--user", "ada", "--json"]),
        step(["audit", "tail", "--token", "tok_ada0000000000000001", "--since", new Date(now - 5_000).toISOString(), "--limit", "1"]),
      ]);

      expect(all.code, all.stderr).toBe(0);
      const lines = all.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as { decision_id: string; time: string; path: string; user_id: string });
      expect(lines.map((l) => l.decision_id)).toEqual(records.slice(0, 3).map((r) => r.decision_id));
      expect(lines[0]).toMatchObject({ time: records[0]!.time.toISOString(), path: "/api/v1/projects/p1/builds", user_id: "ada" });
      expect(lines[1]).toMatchObject({ allow: false, status: 403, reasons: ["insufficient_scope"] });

      // Plain: the newest of that token's records.
      expect(recent.code, recent.stderr).toBe(0);
      expect(recent.stdout).toMatch(new RegExp(`^${records[2]!.time.toISOString()}\\s+allow 200\\s+POST /api/v1/projects/p1/trigger\\s+user=ada token=tok_ada0000000000000001\\s+gateway 12\\.5ms upstream=200\n$`));
    });

    it("audit tail --follow prints new records as they are written, and stops on SIGINT", { timeout: TIMEOUT }, async () => {
      const first = auditRecord({ user_id: "fred", time: new Date(Date.now() - 1_000) });
      await writeAudit([first]);
      await slot(async () => {
        const child = start(["audit", "tail", "--user", "fred", "--follow", "--json"]);
        const { out, err, exited } = collect(child);
        const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
        try {
          await until(() => out().includes(first.decision_id), () => `the first record\n${err()}`);
          const now = Date.now();
          const later = [auditRecord({ user_id: "fred", time: new Date(now) }), auditRecord({ user_id: "someone-else", time: new Date(now) }), auditRecord({ user_id: "fred", time: new Date(now + 1) })];
          await writeAudit(later);
          await until(() => out().includes(later[2]!.decision_id), () => `the later records\n${out()}\n${err()}`);
          child.kill("SIGINT");
          expect(await exited).toBe(0);
          const ids = out().trimEnd().split("\n").map((l) => (JSON.parse(l) as { decision_id: string }).decision_id);
          expect(ids).toEqual([first.decision_id, later[0]!.decision_id, later[2]!.decision_id]);
          expect(err()).toBe("");
        } finally {
          clearTimeout(killer);
          child.kill("SIGKILL");
        }
      }, true);
    });

    it("serve runs the server as src/main.ts does", { timeout: TIMEOUT }, async () => {
      const port = await freePort();
      await slot(async () => {
        // In-memory development server: no MONGODB_URI, no demo data.
        const child = start(["serve"], { MONGODB_URI: undefined, PORT: String(port), TOLLGATE_DEMO: "false", TOLLGATE_LOG_LEVEL: "warn" });
        const { err, exited } = collect(child);
        try {
          let health: Response | undefined;
          await until(
            async () => (health = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined)) !== undefined,
            () => `the server on port ${port}\n${err()}`,
          );
          expect(health!.status).toBe(200);
          child.kill("SIGTERM");
          expect(await exited).toBe(0);
        } finally {
          child.kill("SIGKILL");
        }
      });
    });
  });

  // ---------------------------------------------------------------------------------- help

  describe("--help", () => {
    const pages: Array<[string[], string[]]> = [
      [[], ["serve", "token", "collaborator", "audit", "MONGODB_URI"]],
      [["serve"], ["docs/configuration.md"]],
      [["token"], ["create", "list", "revoke"]],
      [["token", "create"], ["--type", "global", "project", "mcp", "--user", "--project", "--scope", "--grant", "--expires", "--name", "--json", "Examples:"]],
      [["token", "list"], ["--user", "--json"]],
      [["token", "revoke"], ["<id>", "--json"]],
      [["collaborator"], ["set", "remove"]],
      [["collaborator", "set"], ["<project>", "<user>", "<role>", "Owner", "Administrator", "Developer"]],
      [["collaborator", "remove"], ["<project>", "<user>"]],
      [["audit"], ["tail"]],
      [["audit", "tail"], ["--user", "--token", "--since", "--limit", "--follow", "--json"]],
    ];
    it.each(pages)("tollgate %j --help", { timeout: TIMEOUT }, async (path, mentions) => {
      // No database needed to ask for help.
      const r = await tollgate([...path, "--help"], { MONGODB_URI: undefined });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain(`Usage: tollgate ${path.join(" ")}`.trimEnd());
      for (const word of mentions) expect(r.stdout).toContain(word);
    });
  });

  it("tollgate --version (and -V): package.json's version", { timeout: TIMEOUT }, async () => {
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    for (const flag of ["--version", "-V"]) {
      const r = await tollgate([flag], { MONGODB_URI: undefined });
      expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
    }
  });

  // ---------------------------------------------------------------------------------- errors

  describe("errors: one plain line, exit 2 for usage and configuration, 1 at run time", () => {
    const cases: Array<[string, string[], Env, number, RegExp]> = [
      ["no MONGODB_URI", ["token", "list", "--user", "alice"], { MONGODB_URI: undefined }, 2, /set MONGODB_URI to the database your Tollgate uses/],
      ["unknown command", ["token", "mint"], {}, 2, /unknown command 'mint'/],
      ["unknown option", ["token", "list", "--user", "alice", "--verbose"], {}, 2, /unknown option '--verbose'/],
      ["missing required option", ["token", "create", "--user", "alice"], {}, 2, /required option '--type <type>' not specified/],
      ["missing argument", ["collaborator", "set", "p1", "bob"], {}, 2, /missing required argument 'role'/],
      ["invalid role", ["collaborator", "set", "p1", "bob", "Boss"], {}, 2, /'Boss' is invalid for argument 'role'.*Owner, Administrator, Developer/],
      ["unknown project for a project token", ["token", "create", "--type", "project", "--project", "nope"], {}, 1, /^tollgate: --project: no project "nope"\n$/],
      ["bad --expires", ["token", "create", "--type", "global", "--user", "alice", "--expires", "tomorrow"], {}, 2, /^tollgate: --expires: must be an ISO 8601 timestamp/],
      ["no such token", ["token", "revoke", "tok_doesnotexist000000"], {}, 1, /^tollgate: no token "tok_doesnotexist000000"\n$/],
    ];
    it.each(cases)("%s", { timeout: TIMEOUT }, async (_what, args, env, exitCode, message) => {
      expectPlainError(await tollgate(args, env), exitCode, message);
    });

    it("MongoDB unreachable: names the server, exit 1", { timeout: TIMEOUT }, async () => {
      const port = await freePort();
      const r = await tollgate(["token", "list", "--user", "alice"], { MONGODB_URI: `mongodb://someone:secret@127.0.0.1:${port}/x` });
      expectPlainError(r, 1, new RegExp(`^tollgate: cannot reach MongoDB at 127\\.0\\.0\\.1:${port}: `));
      expect(r.stderr).not.toContain("secret");
    });

    it("no command: the help on stderr, exit 2", { timeout: TIMEOUT }, async () => {
      const r = await tollgate([]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("Usage: tollgate");
    });
  });
});

// ---------------------------------------------------------------------------------- helpers

/** Through the audit sink, as the server writes them. */
async function writeAudit(records: AuditRecord[]): Promise<void> {
  const sink = new MongoAuditSink(db);
  for (const r of records) sink.record(r);
  await sink.flush();
  await sink.close();
  expect(sink.stats()).toMatchObject({ written: records.length, queued: 0 });
}

async function until(check: () => boolean | Promise<boolean>, what: () => string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
