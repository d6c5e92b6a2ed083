// The `tollgate` CLI against a real FerretDB, each command run in-process through run() with its
// own environment, stdout, stderr and interrupts (a CliIo), so the tests do not wait for child
// processes to start. One test at the end runs the real entry point (src/cli/main.ts) as a child,
// for what only a process shows: its exit codes and its signals.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { MongoClient, type Db } from "mongodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { MongoAuditSink } from "../../src/audit/mongo/sink.js";
import { MongoAuditStore } from "../../src/audit/mongo/store.js";
import type { AuditRecord } from "../../src/audit/types.js";
import type { CliIo } from "../../src/cli/io.js";
import { run } from "../../src/cli/program.js";
import { serve } from "../../src/server/serve.js";
import { MongoDirectoryStore } from "../../src/stores/mongo/directory-store.js";
import { MongoTokenStore } from "../../src/stores/mongo/token-store.js";
import { hashToken } from "../../src/tokens/format.js";
import { CLOSED_PORT, startFerretDb, startRedis, startRedisCluster, type MongoServer } from "../support/servers.js";
import { Cluster, Redis } from "ioredis";
import { NO_BUS_NOTE, NOT_PUBLISHED_NOTE } from "../../src/cli/context.js";
import { auditRecord } from "../audit/fixtures.js";

// `tollgate serve` would start a server in this process that only a signal stops: the test below
// checks what the command passes on; test/integration/cluster.test.ts runs the server itself.
vi.mock("../../src/server/serve.js", () => ({ serve: vi.fn(async () => {}) }));

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

let server: MongoServer;
let client: MongoClient;
let db: Db;
let directory: MongoDirectoryStore;
let tokens: MongoTokenStore;

beforeAll(async () => {
  server = await startFerretDb();
  client = new MongoClient(server.uri);
  db = client.db(server.dbName);
  directory = new MongoDirectoryStore(db);
  tokens = new MongoTokenStore(db);
  await directory.putProject({ id: "p1", name: "Project one", public: false });
  await directory.putProject({ id: "p2", name: "Project two", public: true });
  // Tokens are issued to known users only, as through the admin API.
  for (const id of ["alice", "tina"]) await directory.putUser({ id, system_role: "user" });
  // The first command creates the indexes, as a first `tollgate serve` would; the tests' commands find them.
  expect(await tollgate(["token", "list", "--user", "alice", "--json"])).toEqual({ code: 0, stdout: "[]\n", stderr: "" });
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

type Env = Record<string, string | undefined>;

/** The environment a deployment's operator would have: the test database, nothing else of ours. */
function cliEnv(overrides: Env = {}): Env {
  const env: Env = { MONGODB_URI: server.uri, MONGODB_DB: server.dbName, ...overrides };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  return env;
}

interface TestIo extends CliIo {
  out(): string;
  err(): string;
  /** What Ctrl-C does to a command that listens for it. */
  interrupt(): void;
}

function testIo(env: Env): TestIo {
  let stdout = "";
  let stderr = "";
  const listeners = new Set<() => void>();
  return {
    env,
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    onInterrupt(stop) {
      listeners.add(stop);
      return () => listeners.delete(stop);
    },
    out: () => stdout,
    err: () => stderr,
    interrupt: () => {
      for (const stop of listeners) stop();
    },
  };
}

async function tollgate(args: string[], env: Env = {}): Promise<Result> {
  const io = testIo(cliEnv(env));
  const code = await run(args, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

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

describe("tollgate", () => {
  // ---------------------------------------------------------------------------------- commands

  describe("commands", () => {
    it("token create (each type) → list → revoke, plain and --json", async () => {
      const global = await tollgate(["token", "create", "--type", "global", "--user", "tina", "--scope", "read", "--scope", "write", "--name", "CI deploy", "--json"]);
      const project = await tollgate(["token", "create", "--type", "project", "--project", "p1", "--expires", "2031-01-01T00:00:00Z"]);
      const mcp = await tollgate(["token", "create", "--type", "mcp", "--user", "tina", "--grant", "p1:trigger@2030-06-30T12:00:00Z", "--grant", "p2", "--json"]);

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

      const listed = json<TokenJson[]>(await tollgate(["token", "list", "--user", "tina", "--json"]));
      expect(listed.map((t) => t.id).sort()).toEqual([g.id, m.id].sort());
      expect(listed.every((t) => t.token === undefined)).toBe(true); // never the value again

      const revoked = json<TokenJson>(await tollgate(["token", "revoke", g.id, "--json"]));
      expect(revoked).toMatchObject({ id: g.id, type: "global" });
      expect(revoked.revoked_at).not.toBeNull();
      expect((await tokens.get(g.id))?.revoked_at?.toISOString()).toBe(revoked.revoked_at);
    });


    it("collaborator set (a change of role) → remove, visible through the directory store", async () => {
      await directory.setCollaborator("p2", "cleo", "Developer");
      const set = await tollgate(["collaborator", "set", "p2", "cleo", "Administrator"]);
      expect(set.code, set.stderr).toBe(0);
      expect(set.stdout).toBe("cleo is Administrator of p2 (was Developer)\n");
      expect(await directory.getCollaboratorRole("p2", "cleo")).toBe("Administrator");

      const removed = json<object>(await tollgate(["collaborator", "remove", "p2", "cleo", "--json"]));
      expect(removed).toEqual({ project_id: "p2", user_id: "cleo", removed: true });
      expect(await directory.getCollaboratorRole("p2", "cleo")).toBeNull();
    });

    it("announces its writes on the replicas' invalidation bus with REDIS_URL, and says when replicas see them otherwise", async () => {
      // Without REDIS_URL: a note (stderr) after the result.
      const plain = await tollgate(["collaborator", "set", "p2", "cleo", "Developer"]);
      expect(plain.code, plain.stderr).toBe(0);
      expect(plain.stderr).toBe(`tollgate: ${NO_BUS_NOTE}\n`);

      // With REDIS_URL: published on <namespace>:invalidate, keys only, nothing on stderr.
      const redis = await startRedis();
      const subscriber = new Redis(redis.url);
      try {
        const messages: Array<{ channel: string; message: string }> = [];
        await subscriber.subscribe("cli-ns:invalidate");
        subscriber.on("message", (channel: string, message: string) => messages.push({ channel, message }));
        const removed = await tollgate(["collaborator", "remove", "p2", "cleo"], { REDIS_URL: redis.url, TOLLGATE_REDIS_NAMESPACE: "cli-ns" });
        expect(removed).toMatchObject({ code: 0, stderr: "" });
        for (const deadline = Date.now() + 30_000; messages.length === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
        expect(messages).toHaveLength(1);
        expect(JSON.parse(messages[0]!.message)).toMatchObject({ v: 1, kind: "collaborator", id: "p2/cleo" });
      } finally {
        subscriber.disconnect();
        await redis.stop();
      }

      // Redis unreachable: the write stands, and the note says the replicas' cache TTL applies.
      const unreachable = await tollgate(["collaborator", "set", "p2", "cleo", "Developer"], { REDIS_URL: `redis://127.0.0.1:${CLOSED_PORT}` });
      expect(unreachable.code, unreachable.stderr).toBe(0);
      expect(unreachable.stderr).toBe(`tollgate: ${NOT_PUBLISHED_NOTE}\n`);
      expect(await directory.getCollaboratorRole("p2", "cleo")).toBe("Developer");
    });

    it("announces its writes on a Redis Cluster with TOLLGATE_REDIS_CLUSTER_NODES, and says when it could not", async () => {
      const cluster = await startRedisCluster();
      const subscriber = new Cluster(cluster.nodes);
      try {
        const messages: string[] = [];
        await subscriber.subscribe("cli-cluster:invalidate");
        subscriber.on("message", (_channel: string, message: string) => messages.push(message));
        const set = await tollgate(["collaborator", "set", "p2", "cleo", "Administrator"], { TOLLGATE_REDIS_CLUSTER_NODES: cluster.nodesEnv, TOLLGATE_REDIS_NAMESPACE: "cli-cluster" });
        expect(set).toMatchObject({ code: 0, stderr: "" });
        for (const deadline = Date.now() + 30_000; messages.length === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
        expect(messages.map((m) => JSON.parse(m))).toMatchObject([{ v: 1, kind: "collaborator", id: "p2/cleo" }]);
      } finally {
        subscriber.disconnect();
        await cluster.stop();
      }

      // No seed node answers: the CLI gives up, the write stands, and the note says so.
      const unreachable = await tollgate(["collaborator", "set", "p2", "cleo", "Developer"], { TOLLGATE_REDIS_CLUSTER_NODES: `127.0.0.1:${CLOSED_PORT}` });
      expect(unreachable.code, unreachable.stderr).toBe(0);
      expect(unreachable.stderr).toBe(`tollgate: ${NOT_PUBLISHED_NOTE}\n`);
      expect(await directory.getCollaboratorRole("p2", "cleo")).toBe("Developer");
    });

    it("audit tail: the newest records, oldest first, --json and plain; filters", async () => {
      const now = Date.now();
      const records = [
        auditRecord({ user_id: "ada", token_id: "tok_ada0000000000000001", time: new Date(now - 4_000), path: "/api/v1/projects/p1/builds?page=2" }),
        auditRecord({ user_id: "ada", token_id: "tok_ada0000000000000002", time: new Date(now - 3_000), allow: false, status: 403, reasons: ["insufficient_scope"], upstream_status: null }),
        auditRecord({ user_id: "ada", token_id: "tok_ada0000000000000001", time: new Date(now - 2_000), method: "POST", path: "/api/v1/projects/p1/trigger" }),
        auditRecord({ user_id: "someone-else", token_id: null, time: new Date(now - 1_000) }),
        auditRecord({ user_id: "someone-else", time: new Date(now - 500), method: "POST", path: "/api/v1/mcp/projects/p1/mcp", mcp: { method: "tools/call", tool: "trigger_build", uri: null, id: 1, session_id: null, arguments: null, arguments_truncated: false } }),
      ];
      await writeAudit(records);

      const all = await tollgate(["audit", "tail", "--user", "ada", "--json"]);
      const recent = await tollgate(["audit", "tail", "--token", "tok_ada0000000000000001", "--since", new Date(now - 5_000).toISOString(), "--limit", "1"]);

      expect(all.code, all.stderr).toBe(0);
      const lines = all.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as { decision_id: string; time: string; path: string; user_id: string });
      expect(lines.map((l) => l.decision_id)).toEqual(records.slice(0, 3).map((r) => r.decision_id));
      expect(lines[0]).toMatchObject({ time: records[0]!.time.toISOString(), path: "/api/v1/projects/p1/builds", user_id: "ada" });
      expect(lines[1]).toMatchObject({ allow: false, status: 403, reasons: ["insufficient_scope"] });

      const byTool = await tollgate(["audit", "tail", "--tool", "trigger_build", "--mcp-method", "tools/call"]);
      expect(byTool.code, byTool.stderr).toBe(0);
      expect(byTool.stdout).toMatch(new RegExp(`^${records[4]!.time.toISOString()}\\s+allow 200\\s+POST /api/v1/mcp/projects/p1/mcp .* mcp=tools/call tool=trigger_build from=192\\.0\\.2\\.10\n$`));

      // Plain: the newest of that token's records.
      expect(recent.code, recent.stderr).toBe(0);
      expect(recent.stdout).toMatch(new RegExp(`^${records[2]!.time.toISOString()}\\s+allow 200\\s+POST /api/v1/projects/p1/trigger\\s+user=ada token=tok_ada0000000000000001\\s+gateway 12\\.5ms upstream=200 from=192\\.0\\.2\\.10\n$`));
    });

    it("audit tail --follow prints new records as they are written, and stops when interrupted", async () => {
      const first = auditRecord({ user_id: "fred", time: new Date(Date.now() - 1_000) });
      await writeAudit([first]);
      const io = testIo(cliEnv());
      const exited = run(["audit", "tail", "--user", "fred", "--follow", "--json"], io);
      try {
        await until(() => io.out().includes(first.decision_id), () => `the first record\n${io.err()}`, exited);
        const now = Date.now();
        const later = [auditRecord({ user_id: "fred", time: new Date(now) }), auditRecord({ user_id: "someone-else", time: new Date(now) }), auditRecord({ user_id: "fred", time: new Date(now + 1) })];
        await writeAudit(later);
        await until(() => io.out().includes(later[2]!.decision_id), () => `the later records\n${io.out()}\n${io.err()}`, exited);
        io.interrupt();
        expect(await exited).toBe(0);
        const ids = io.out().trimEnd().split("\n").map((l) => (JSON.parse(l) as { decision_id: string }).decision_id);
        expect(ids).toEqual([first.decision_id, later[0]!.decision_id, later[2]!.decision_id]);
        expect(io.err()).toBe("");
      } finally {
        io.interrupt();
      }
    });

    it("audit tail --follow prints a record written just after the first page was read", async () => {
      // The write happens when the page query (--limit 20; the others ask for 1000) has answered.
      const late = auditRecord({ user_id: "lena", time: new Date() });
      const query = MongoAuditStore.prototype.query;
      let pollsAfterWrite = 0;
      let written = false;
      const spy = vi.spyOn(MongoAuditStore.prototype, "query").mockImplementation(async function (this: MongoAuditStore, filter) {
        const page = await query.call(this, filter);
        if (filter.limit === 20 && !written) {
          await writeAudit([late]);
          written = true;
        } else if (written) pollsAfterWrite++;
        return page;
      });
      const io = testIo(cliEnv());
      const exited = run(["audit", "tail", "--user", "lena", "--follow", "--json"], io);
      try {
        await until(() => io.out().includes(late.decision_id) || pollsAfterWrite >= 3, () => `three polls\n${io.err()}`, exited);
        expect(io.out(), io.err()).toContain(late.decision_id);
      } finally {
        io.interrupt();
        await exited;
        spy.mockRestore();
      }
    });

    it("serve runs the server with the command's environment, and leaves the exit to it", async () => {
      const env = cliEnv({ MONGODB_URI: undefined, PORT: "8999", TOLLGATE_DEMO: "false" });
      const io = testIo(env);
      expect(await run(["serve"], io)).toBeNull();
      expect(vi.mocked(serve)).toHaveBeenCalledTimes(1);
      expect(vi.mocked(serve).mock.calls[0]![0]).toBe(env);
      expect(io.out() + io.err()).toBe("");
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
    it.each(pages)("tollgate %j --help", async (path, mentions) => {
      // No database needed to ask for help.
      const r = await tollgate([...path, "--help"], { MONGODB_URI: undefined });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain(`Usage: tollgate ${path.join(" ")}`.trimEnd());
      for (const word of mentions) expect(r.stdout).toContain(word);
    });
  });

  it("tollgate --version (and -V): package.json's version", async () => {
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
    it.each(cases)("%s", async (_what, args, env, exitCode, message) => {
      expectPlainError(await tollgate(args, env), exitCode, message);
    });

    it("MongoDB unreachable: names the server, exit 1", async () => {
      const r = await tollgate(["token", "list", "--user", "alice"], { MONGODB_URI: `mongodb://someone:secret@127.0.0.1:${CLOSED_PORT}/x` });
      expectPlainError(r, 1, new RegExp(`^tollgate: cannot reach MongoDB at 127\\.0\\.0\\.1:${CLOSED_PORT}: `));
      expect(r.stderr).not.toContain("secret");
    });

    it("no command: the help on stderr, exit 2", async () => {
      const r = await tollgate([]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("Usage: tollgate");
    });
  });
});

// ---------------------------------------------------------------------------------- the process

describe("tollgate as a process (src/cli/main.ts)", () => {
  it("exits 2 on a usage error, and 0 when a following tail gets SIGINT", async () => {
    const usage = child(["token", "list", "--user", "alice"], { MONGODB_URI: undefined });
    const first = auditRecord({ user_id: "sigmund", time: new Date(Date.now() - 1_000) });
    await writeAudit([first]);
    const tail = child(["audit", "tail", "--user", "sigmund", "--follow", "--json"]);
    try {
      await until(() => tail.out().includes(first.decision_id), () => `the first record\n${tail.err()}`, tail.exited);
      // Printed by the polling loop, so the interrupt handler is in place.
      const later = auditRecord({ user_id: "sigmund", time: new Date() });
      await writeAudit([later]);
      await until(() => tail.out().includes(later.decision_id), () => `the later record\n${tail.out()}\n${tail.err()}`, tail.exited);
      tail.process.kill("SIGINT");
      expect(await tail.exited, tail.err()).toBe(0);
      expect(tail.err()).toBe("");

      expect(await usage.exited).toBe(2);
      expect(usage.out()).toBe("");
      expect(usage.err()).toMatch(/^tollgate: set MONGODB_URI to the database your Tollgate uses[^\n]*\n$/);
    } finally {
      tail.process.kill("SIGKILL");
      usage.process.kill("SIGKILL");
    }
  });
});

/** `tollgate ARGS` as a child process, with the test database and none of this process's TOLLGATE_* settings. */
function child(args: string[], overrides: Env = {}): { process: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> } {
  const inherited = Object.entries(process.env).filter(([key]) => !key.startsWith("TOLLGATE_") && !key.startsWith("MONGODB_"));
  const env = { ...Object.fromEntries(inherited), ...cliEnv(overrides) };
  const proc = spawn(process.execPath, ["--import", "tsx", CLI, ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  proc.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once("close", (code) => resolve(code)));
  return { process: proc, out: () => stdout, err: () => stderr, exited };
}

// ---------------------------------------------------------------------------------- helpers

/** Through the audit sink, as the server writes them. */
async function writeAudit(records: AuditRecord[]): Promise<void> {
  const sink = new MongoAuditSink(db);
  for (const r of records) sink.record(r);
  await sink.flush();
  await sink.close();
  expect(sink.stats()).toMatchObject({ written: records.length, queued: 0 });
}

/**
 * Polls `check` until it holds. Fails at once when `command` (a following tail) ends first; the
 * deadline only turns a hang into a message, so it is generous.
 */
async function until(check: () => boolean, what: () => string, command: Promise<unknown>, timeoutMs = 90_000): Promise<void> {
  let ended = false;
  const end = (): void => void (ended = true);
  void command.then(end, end);
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (ended) throw new Error(`the command ended before ${what()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
