// Tollgate for the HTTP benchmark (scripts/bench.sh): the real composition root with MongoDB and
// Redis from the environment (loadConfig), no policy watcher, no default process metrics.
//
//   npx tsx bench/server.ts [--seed FILE] [--memory] [--lean-express PORT]
//
// --seed writes a small world through the stores (users, a private project, a collaborator, one
// global and one project token) and saves the token values and the matching OPA inputs to FILE.
// --memory runs on the in-memory stores (no MONGODB_URI or REDIS_URL needed).
// --lean-express PORT also serves POST /v1/authorize on PORT through the leanest Express route
// (express.json() and the same DecisionService), to compare the framework with the dispatcher.
// The server listens on HOST:PORT and prints one line "listening <url>" when it accepts requests.
import { writeFileSync } from "node:fs";
import express from "express";
import { loadConfig } from "../src/config/config.js";
import { createHttpServer } from "../src/http/server.js";
import { createLogger } from "../src/log.js";
import type { PolicyInput } from "../src/policy/types.js";
import { buildTollgate, type Tollgate } from "../src/server/tollgate.js";

export const BENCH_PROJECT = "acme-api";
export const BENCH_PATH = `/api/v1/projects/${BENCH_PROJECT}/builds`;

export interface SeedFile {
  tokens: { global: string; project: string };
  /** What Tollgate hands the policy for each token on GET BENCH_PATH (now is filled in by the load script). */
  opaInputs: { global: Omit<PolicyInput, "now">; project: Omit<PolicyInput, "now"> };
}

async function seed(tollgate: Tollgate, file: string): Promise<void> {
  const { directoryStore } = tollgate.facts;
  await directoryStore.putUser({ id: "alice", system_role: "admin" });
  await directoryStore.putUser({ id: "bob", system_role: "user" });
  await directoryStore.putProject({ id: BENCH_PROJECT, name: "ACME API", public: false });
  await directoryStore.putProject({ id: "oss-lib", name: "OSS library", public: true });
  await directoryStore.setCollaborator(BENCH_PROJECT, "alice", "Owner");
  await directoryStore.setCollaborator(BENCH_PROJECT, "bob", "Developer");
  const global = await tollgate.issuer.issue({ type: "global", name: "bench global", user_id: "bob", scopes: ["read"] });
  const project = await tollgate.issuer.issue({ type: "project", name: "bench project", project_id: BENCH_PROJECT, scopes: ["read"] });
  const seeded: SeedFile = {
    tokens: { global: global.token, project: project.token },
    opaInputs: {
      global: {
        method: "GET",
        path: BENCH_PATH,
        credential: { status: "valid" },
        subject: { type: "global_token", token_id: global.record.id, user_id: "bob", system_role: "user", scopes: ["read"], expires_at: null },
        project: { id: BENCH_PROJECT, public: false, collaborator_role: "Developer" },
      },
      project: {
        method: "GET",
        path: BENCH_PATH,
        credential: { status: "valid" },
        subject: { type: "project_token", token_id: project.record.id, project_id: BENCH_PROJECT, scopes: ["read"], expires_at: null },
        project: { id: BENCH_PROJECT, public: false, collaborator_role: null },
      },
    },
  };
  writeFileSync(file, `${JSON.stringify(seeded, null, 2)}\n`);
}

async function main(): Promise<void> {
  const seedAt = process.argv.indexOf("--seed");
  const seedFile = seedAt >= 0 ? process.argv[seedAt + 1] : undefined;
  const memory = process.argv.includes("--memory");
  const leanAt = process.argv.indexOf("--lean-express");
  const leanPort = leanAt >= 0 ? Number(process.argv[leanAt + 1]) : undefined;
  const env = memory ? { ...process.env, MONGODB_URI: "", REDIS_URL: "" } : process.env;
  const config = loadConfig(env);
  if (!memory && (!config.mongodbUri || !config.redisUrl)) throw new Error("bench/server.ts needs MONGODB_URI and REDIS_URL (or --memory)");
  const logger = createLogger(config.logLevel);
  const tollgate = buildTollgate(config, { logger, watchPolicy: false, defaultMetrics: false });
  if (seedFile) await seed(tollgate, seedFile);
  // The listener `tollgate serve` runs: limits, Expect handling, the node:http dispatcher.
  const server = createHttpServer(tollgate.app, config).listen(config.port, config.host);
  server.on("error", (err) => {
    process.stderr.write(`bench server: ${err.message}\n`);
    process.exit(1);
  });
  server.on("listening", () => {
    process.stdout.write(`listening http://${config.host}:${config.port} (cache TTL ${config.cacheTtlMs} ms, policy ${tollgate.engine.revision.slice(0, 19)}…)\n`);
  });
  if (leanPort !== undefined) {
    // The leanest Express /v1/authorize: no validation beyond the policy's own, no error mapping.
    const lean = express();
    lean.disable("x-powered-by");
    lean.disable("etag");
    lean.post("/v1/authorize", express.json({ limit: config.maxBodyBytes, strict: true }), async (req, res) => {
      const body = req.body as { method: string; path: string; authorization?: string | null };
      const verdict = await tollgate.decisions.decide({ source: "authorize", method: body.method, path: body.path, authorization: body.authorization ?? null, clientAddress: req.socket.remoteAddress ?? "" });
      res.json(verdict.decision);
    });
    lean.listen(leanPort, config.host).keepAliveTimeout = 65_000;
  }
  const stop = () => {
    server.closeAllConnections();
    server.close(() => void tollgate.close().then(() => process.exit(0)));
    setTimeout(() => process.exit(0), 3_000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench server: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
