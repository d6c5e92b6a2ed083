// Real servers for integration tests: redis-server and FerretDB (SQLite handler) on free loopback
// ports, each in its own temp dir. Children are killed on stop() and when the test process exits.
// Another test run may be doing the same at the same time (two checkouts, one machine): a server
// is ready only when the one answering on its port is our child (by process id), and a port taken
// in the meantime is retried with another.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { MongoClient } from "mongodb";

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface MongoServer {
  /** Connection string including the database (client.db() with no argument selects it). */
  uri: string;
  /** A database name unique to this call; derive per-test databases from it (dbName + "_" + n). */
  dbName: string;
  /** Kills FerretDB and removes its files, or (external MONGODB_URI) drops dbName and dbName_*. */
  stop(): Promise<void>;
}

/** Generous: a loaded machine starts servers slowly; a child that exits ends the wait at once. */
const STARTUP_TIMEOUT_MS = 90_000;
/** Each readiness probe's own bound (the probe is repeated until STARTUP_TIMEOUT_MS). */
const PROBE_TIMEOUT_MS = 2_000;
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const FERRETDB_BIN = process.env.FERRETDB_BIN || join(REPO_ROOT, ".tools/bin/ferretdb");

// ---------------------------------------------------------------------------- child bookkeeping

const children = new Set<ChildProcess>();
/** Temp dirs of running servers, removed by stop() or, failing that, at process exit. */
const tempDirs = new Set<string>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  const killAll = () => {
    for (const child of children) child.kill("SIGKILL");
    children.clear();
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    tempDirs.clear();
  };
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      killAll();
      process.off(signal, onSignal);
      // Nobody else handles it: restore the default behaviour (terminate) by re-raising.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** Keeps the last `max` characters of a child's output (and keeps draining the pipe). */
function tail(child: ChildProcess, max = 8_192): () => string {
  let buf = "";
  const add = (chunk: Buffer) => {
    buf = (buf + chunk.toString("utf8")).slice(-max);
  };
  child.stdout?.on("data", add);
  child.stderr?.on("data", add);
  return () => buf.trim();
}

function startChild(bin: string, args: string[], cwd: string): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  installExitHooks();
  const child = spawn(bin, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  const output = tail(child);
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code, signal) => {
      children.delete(child);
      resolve(code ?? (signal ? -1 : null));
    });
    child.once("error", (err) => {
      children.delete(child);
      (child as { spawnError?: Error }).spawnError = err;
      resolve(-1);
    });
  });
  return { child, output, exited };
}

/**
 * SIGTERM, then SIGKILL after a short grace: these servers hold nothing worth a clean shutdown,
 * and FerretDB's graceful stop waits for every client connection to close.
 */
async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 500);
    await exited;
    clearTimeout(timer);
  }
  children.delete(child);
}

// ---------------------------------------------------------------------------- helpers

/**
 * A port that was free a moment ago (bind port 0, read it, close). Something else may take it
 * before it is used: for a server we start, see withPortRetry; for "nothing listens", CLOSED_PORT.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === "object" ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/**
 * A port that refuses connections, for tests of an unreachable server: privileged and below the
 * ephemeral range, so no concurrent test run is handed it (a port from freePort could be).
 */
export const CLOSED_PORT = 1;

async function makeTempDir(prefix: string): Promise<string> {
  installExitHooks();
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

async function removeTempDir(dir: string): Promise<void> {
  tempDirs.delete(dir);
  await rm(dir, { recursive: true, force: true });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` until it resolves to the child's process id (not another server's on that port),
 * the child exits, or the deadline passes; rejects with the server's output in the message.
 */
async function waitReady(
  what: string,
  probe: () => Promise<number | null>,
  started: { output: () => string; exited: Promise<number | null>; child: ChildProcess },
): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let exitCode: number | null | undefined;
  void started.exited.then((c) => (exitCode = c));
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      const spawnError = (started.child as { spawnError?: Error }).spawnError;
      throw new Error(`${what} exited during startup (code ${exitCode})${spawnError ? `: ${spawnError.message}` : ""}\n${started.output()}`);
    }
    if ((await probe().catch(() => null)) === started.child.pid) return;
    await sleep(50);
  }
  throw new Error(`${what} did not answer within ${STARTUP_TIMEOUT_MS / 1000} s\n${started.output()}`);
}

/** Starts a server on a fresh free port, retrying with another port if this one was taken meanwhile. */
async function withPortRetry<T>(start: (port: number) => Promise<T>, attempts = 3): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await start(await freePort());
    } catch (e) {
      last = e;
      if (!/address already in use|EADDRINUSE|bind/i.test(String((e as Error).message))) throw e;
    }
  }
  throw last;
}

// ---------------------------------------------------------------------------- redis

/** The process id of the redis-server answering on `port` (INFO server), or null. */
function redisPid(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    let reply = "";
    const done = (pid: number | null) => {
      sock.destroy();
      resolve(pid);
    };
    sock.setTimeout(PROBE_TIMEOUT_MS, () => done(null));
    sock.once("error", () => done(null));
    sock.once("connect", () => sock.write("INFO server\r\n"));
    sock.on("data", (d) => {
      reply += d.toString();
      if (reply.startsWith("-")) return done(null);
      const pid = /\r\nprocess_id:(\d+)\r\n/.exec(reply)?.[1];
      if (pid !== undefined) done(Number(pid));
    });
  });
}

/** A stop() that kills the server and removes its folder, once however often it is called. */
function stopOnce(started: ReturnType<typeof startChild>, dir: string): () => Promise<void> {
  let stopped = false;
  return async () => {
    if (stopped) return;
    stopped = true;
    await stopChild(started.child, started.exited);
    await removeTempDir(dir);
  };
}

export async function startRedis(): Promise<RedisServer> {
  const dir = await makeTempDir("tollgate-redis-");
  try {
    return await withPortRetry(async (port) => {
      const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning"];
      const started = startChild("redis-server", args, dir);
      try {
        await waitReady(`redis-server on port ${port}`, () => redisPid(port), started);
      } catch (e) {
        await stopChild(started.child, started.exited);
        if ((started.child as { spawnError?: Error }).spawnError) {
          throw new Error("redis-server not found on PATH (Debian: apt-get install redis-server, or `make system-deps`)", { cause: e });
        }
        throw e;
      }
      return { url: `redis://127.0.0.1:${port}`, port, stop: stopOnce(started, dir) };
    });
  } catch (e) {
    await removeTempDir(dir);
    throw e;
  }
}

// ---------------------------------------------------------------------------- mongo / ferretdb

function uniqueDbName(): string {
  return `tg_test_${process.pid}_${randomBytes(4).toString("hex")}`;
}

function withDatabase(uri: string, dbName: string): string {
  const u = new URL(uri);
  u.pathname = `/${dbName}`;
  return u.toString();
}

/** The process id of the server answering at `uri` (serverStatus). */
async function mongoPid(uri: string): Promise<number | null> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: PROBE_TIMEOUT_MS, connectTimeoutMS: PROBE_TIMEOUT_MS });
  try {
    const { pid } = await client.db("admin").command({ serverStatus: 1 });
    return typeof pid === "number" ? pid : null;
  } finally {
    await client.close().catch(() => {});
  }
}

async function externalMongo(baseUri: string): Promise<MongoServer> {
  const dbName = uniqueDbName();
  const uri = withDatabase(baseUri, dbName);
  return {
    uri,
    dbName,
    async stop() {
      const client = new MongoClient(uri);
      try {
        const { databases } = await client.db("admin").admin().listDatabases({ nameOnly: true });
        for (const { name } of databases) {
          if (name === dbName || name.startsWith(`${dbName}_`)) await client.db(name).dropDatabase();
        }
      } finally {
        await client.close().catch(() => {});
      }
    },
  };
}

/** MONGODB_URI when set (a unique database on that server), otherwise a FerretDB of our own. */
export async function startMongo(): Promise<MongoServer> {
  const external = process.env.MONGODB_URI;
  return external ? externalMongo(external) : startFerretDb();
}

export const canStartFerretDb = (): boolean => existsSync(FERRETDB_BIN);

/**
 * Always spawns FerretDB (for tests that must stop the server, even when MONGODB_URI is set); on
 * `port` when given (a server that comes up where a client already points), else on a free one.
 */
export async function startFerretDb(port?: number): Promise<MongoServer> {
  if (!existsSync(FERRETDB_BIN)) {
    throw new Error(`FerretDB binary not found at ${FERRETDB_BIN}: run \`make tools\` (or set FERRETDB_BIN, or MONGODB_URI to use a running server)`);
  }
  const dir = await makeTempDir("tollgate-ferretdb-");
  try {
    const start = async (port: number): Promise<MongoServer> => {
      const args = [
        "--handler=sqlite",
        `--sqlite-url=file:${dir}/`,
        `--listen-addr=127.0.0.1:${port}`,
        "--telemetry=disable",
        "--log-level=error",
        "--debug-addr=-", // the default 127.0.0.1:8088 would clash between parallel servers
        `--state-dir=${dir}`,
      ];
      const started = startChild(FERRETDB_BIN, args, dir);
      const dbName = uniqueDbName();
      const base = `mongodb://127.0.0.1:${port}/`;
      try {
        await waitReady(`FerretDB on port ${port}`, () => mongoPid(base), started);
      } catch (e) {
        await stopChild(started.child, started.exited);
        if (/version\.txt/.test((e as Error).message)) {
          throw new Error(
            `${FERRETDB_BIN} panics at startup: it was built without FerretDB's build/version/version.txt ` +
              "(Go >= 1.24 makes FerretDB the main module of a tools/ferretdb build, which turns on that check). " +
              "Rebuild it from a copy of the module source with version.txt containing v1.24.2, " +
              "or point FERRETDB_BIN at a working binary, or MONGODB_URI at a running server.",
            { cause: e },
          );
        }
        throw e;
      }
      return { uri: withDatabase(base, dbName), dbName, stop: stopOnce(started, dir) };
    };
    return await (port === undefined ? withPortRetry(start) : start(port));
  } catch (e) {
    await removeTempDir(dir);
    throw e;
  }
}

// ---------------------------------------------------------------------------- redis cluster

export interface RedisClusterServer {
  /** The masters' addresses, each "127.0.0.1:port". */
  nodes: string[];
  /** The value of TOLLGATE_REDIS_CLUSTER_NODES for this cluster. */
  nodesEnv: string;
  /** Kills one master: the others mark it failed after the node timeout (3 s), and the cluster's state turns fail. */
  stopNode(index: number): Promise<void>;
  stop(): Promise<void>;
}

/** Runs redis-cli with `args`; rejects with its output when it exits non-zero. */
function redisCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("redis-cli", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`redis-cli ${args.join(" ")} exited ${code}:\n${out}`))));
  });
}

/** One empty cluster-enabled redis-server in its own folder under `dir`, on free loopback ports. */
async function startClusterNode(dir: string, index: number): Promise<{ port: number; stop: () => Promise<void> }> {
  const nodeDir = join(dir, `node-${index}`);
  await mkdir(nodeDir);
  return withPortRetry(async (port) => {
    // The cluster bus listens on a port of its own; the default (port + 10000) may be taken or past 65535.
    const busPort = await freePort();
    const args = [
      "--port", String(port), "--cluster-port", String(busPort), "--bind", "127.0.0.1",
      "--cluster-enabled", "yes", "--cluster-config-file", join(nodeDir, "nodes.conf"), "--cluster-node-timeout", "3000",
      "--save", "", "--appendonly", "no", "--dir", nodeDir, "--daemonize", "no", "--loglevel", "warning",
    ];
    const started = startChild("redis-server", args, nodeDir);
    try {
      await waitReady(`cluster redis-server on port ${port}`, () => redisPid(port), started);
    } catch (e) {
      await stopChild(started.child, started.exited);
      throw e;
    }
    return { port, stop: () => stopChild(started.child, started.exited) };
  });
}

/**
 * A three-master Redis Cluster (no replicas) on loopback, each node empty in a folder of its own,
 * ready once every node reports cluster_state:ok. Started only by the tests that need one.
 */
export async function startRedisCluster(): Promise<RedisClusterServer> {
  const dir = await makeTempDir("tollgate-redis-cluster-");
  const started: Array<{ port: number; stop: () => Promise<void> }> = [];
  const stopAll = async () => {
    await Promise.all(started.map((node) => node.stop()));
    await removeTempDir(dir);
  };
  try {
    for (let i = 0; i < 3; i++) started.push(await startClusterNode(dir, i));
    const nodes = started.map((node) => `127.0.0.1:${node.port}`);
    await redisCli(["--cluster", "create", ...nodes, "--cluster-replicas", "0", "--cluster-yes"]);
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    for (const node of started) {
      while (!/cluster_state:ok/.test(await redisCli(["-p", String(node.port), "cluster", "info"]).catch(() => ""))) {
        if (Date.now() > deadline) throw new Error(`Redis Cluster node ${node.port} not cluster_state:ok within ${STARTUP_TIMEOUT_MS / 1000} s`);
        await sleep(100);
      }
    }
    let stopped = false;
    return {
      nodes,
      nodesEnv: nodes.join(","),
      stopNode: (index) => started[index]!.stop(),
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopAll();
      },
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
