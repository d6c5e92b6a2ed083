import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { AggregatorRegistry, Counter, Histogram, Registry } from "prom-client";
import request from "supertest";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/config.js";
import { Metrics } from "../src/metrics.js";
import { ClusterScrapeError } from "../src/server/cluster-metrics.js";
import { buildTollgate, type Tollgate } from "../src/server/tollgate.js";

const PACKAGE_VERSION = (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version;

function buildInfo(text: string): string[] {
  return text.split("\n").filter((line) => line.startsWith("tollgate_build_info{"));
}

describe("tollgate_build_info", () => {
  let dir: string;
  let tollgate: Tollgate;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "tollgate-build-info-"));
    copyFileSync("wasm/policy.wasm", join(dir, "policy.wasm"));
    tollgate = buildTollgate(loadConfig({ TOLLGATE_POLICY_DIR: dir, TOLLGATE_DEMO: "false" }), {
      logger: pino({ level: "silent" }),
      watchPolicy: false,
      defaultMetrics: false,
    });
  });
  afterEach(async () => {
    await tollgate.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("is 1, labelled with the package version, the active policy revision and the Node.js version", async () => {
    expect(buildInfo(await tollgate.metrics.registry.metrics())).toEqual([
      `tollgate_build_info{version="${PACKAGE_VERSION}",policy_revision="${tollgate.engine.revision}",node_version="${process.version}"} 1`,
    ]);
  });

  it("follows a hot reload to the new policy revision", async () => {
    const before = tollgate.engine.revision;
    // A custom section appended: a valid module with another hash.
    writeFileSync(join(dir, "policy.wasm"), Buffer.concat([readFileSync("wasm/policy.wasm"), Buffer.from([0, 3, 1]), Buffer.from("x"), Buffer.from([7])]));
    expect(tollgate.engine.reload()).toBe(true);
    const lines = buildInfo(await tollgate.metrics.registry.metrics());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`policy_revision="${tollgate.engine.revision}"`);
    expect(lines[0]).not.toContain(before);
  });
});

describe("invalidation metrics", () => {
  it("count published, applied and ignored invalidations, observe the lag and show the subscription state", async () => {
    const metrics = new Metrics({ policyRevision: () => "r", defaultMetrics: false });
    metrics.published("token", "ok");
    metrics.published("token", "failed");
    metrics.applied("collaborator", 0.004);
    metrics.ignored("malformed");
    metrics.subscription("down");
    const text = await metrics.registry.metrics();
    expect(text).toContain('tollgate_invalidations_published_total{kind="token",result="ok"} 1');
    expect(text).toContain('tollgate_invalidations_published_total{kind="token",result="failed"} 1');
    expect(text).toContain('tollgate_invalidations_applied_total{kind="collaborator"} 1');
    expect(text).toContain('tollgate_invalidations_ignored_total{reason="malformed"} 1');
    expect(text).toContain('tollgate_invalidation_lag_seconds_bucket{le="0.005"} 1');
    expect(text).toContain("tollgate_invalidation_subscription_up 0");
    metrics.subscription("up");
    expect(await metrics.registry.metrics()).toContain("tollgate_invalidation_subscription_up 1");
  });

  it("a Tollgate without Redis applies its own changes in-process and counts them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-invalidation-"));
    copyFileSync("wasm/policy.wasm", join(dir, "policy.wasm"));
    const tollgate = buildTollgate(loadConfig({ TOLLGATE_POLICY_DIR: dir, TOLLGATE_DEMO: "false" }), { logger: pino({ level: "silent" }), watchPolicy: false, defaultMetrics: false });
    try {
      await tollgate.facts.directoryStore.putUser({ id: "ann", system_role: "user" });
      const text = await tollgate.metrics.registry.metrics();
      expect(text).toContain('tollgate_invalidations_published_total{kind="user",result="ok"} 1');
      expect(text).toContain('tollgate_invalidations_applied_total{kind="user"} 1');
      expect(text).toContain("tollgate_invalidation_subscription_up 1");
    } finally {
      await tollgate.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("aggregated over workers (what the primary serves with TOLLGATE_WORKERS > 1)", () => {
  it("sums counters and histograms, shows build info once and the subscription up only if every worker's is", async () => {
    const workers = [new Metrics({ policyRevision: () => "r1" }), new Metrics({ policyRevision: () => "r1" })] as const;
    const decision = { allow: true, status: 200, reasons: [] } as unknown as Parameters<Metrics["decided"]>[0];
    for (let i = 0; i < 3; i++) workers[0].decided(decision, 0.0002);
    for (let i = 0; i < 4; i++) workers[1].decided(decision, 0.002);
    workers[0].applied("token", 0.001);
    workers[1].applied("token", 0.001);
    workers[0].subscription("up");
    workers[1].subscription("down");

    const text = await AggregatorRegistry.aggregate(await Promise.all(workers.map((w) => w.registry.getMetricsAsJSON()))).metrics();
    expect(text).toContain('tollgate_decisions_total{allow="true",status="200",reason=""} 7');
    expect(text).toContain('tollgate_decision_duration_seconds_bucket{le="0.00025",allow="true"} 3');
    expect(text).toContain('tollgate_decision_duration_seconds_bucket{le="0.0025",allow="true"} 7');
    expect(text).toContain('tollgate_decision_duration_seconds_count{allow="true"} 7');
    expect(text).toContain('tollgate_invalidations_applied_total{kind="token"} 2');
    expect(text).toContain("tollgate_invalidation_subscription_up 0");
    expect(buildInfo(text)).toEqual([`tollgate_build_info{version="${PACKAGE_VERSION}",policy_revision="r1",node_version="${process.version}"} 1`]);
    // The process metrics aggregate too: one series each, none of them dropped as unknown.
    expect(text.split("\n").filter((l) => l.startsWith("nodejs_version_info{"))).toHaveLength(1);
    expect(text).not.toContain("process_start_time_seconds ");
  });

  it("GET /metrics answers 503 metrics_unavailable, never a partial sum, when the workers' metrics cannot be collected", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-scrape-"));
    copyFileSync("wasm/policy.wasm", join(dir, "policy.wasm"));
    const tollgate = buildTollgate(loadConfig({ TOLLGATE_POLICY_DIR: dir, TOLLGATE_DEMO: "false" }), { logger: pino({ level: "silent" }), watchPolicy: false, defaultMetrics: false });
    try {
      expect((await request(tollgate.app).get("/metrics")).status).toBe(200);
      tollgate.metrics.exposeFrom(() => Promise.reject(new ClusterScrapeError("1 worker(s) did not send their metrics within 5000 ms")));
      const res = await request(tollgate.app).get("/metrics");
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ error: { code: "metrics_unavailable", message: "the metrics of every worker could not be collected; try again" } });
    } finally {
      await tollgate.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("serves what exposeFrom() names, in place of its own registry", async () => {
    const metrics = new Metrics({ policyRevision: () => "r", defaultMetrics: false });
    expect(await metrics.exposition()).toContain("tollgate_build_info");
    metrics.exposeFrom(async () => "aggregated\n");
    expect(await metrics.exposition()).toBe("aggregated\n");
  });
});

describe("decision and cache counters (counted in plain numbers, handed to prom-client at each scrape)", () => {
  const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
  /** What the same events give with prom-client's own inc() per event: the exposition before this change. */
  function reference() {
    const registry = new Registry();
    const decisions = new Counter({ name: "tollgate_decisions_total", help: "Decisions by result, status and reason", labelNames: ["allow", "status", "reason"], registers: [registry] });
    const latency = new Histogram({ name: "tollgate_decision_duration_seconds", help: "Time to reach a decision, facts and rate limit included", labelNames: ["allow"], buckets: BUCKETS, registers: [registry] });
    const cache = new Counter({ name: "tollgate_cache_lookups_total", help: "Fact cache lookups by cache and result", labelNames: ["cache", "result"], registers: [registry] });
    return {
      registry,
      decided(d: { allow: boolean; status: number; reasons: string[] }, seconds: number) {
        const allow = String(d.allow);
        const status = String(d.status);
        if (d.reasons.length === 0) decisions.inc({ allow, status, reason: "" });
        for (const reason of d.reasons) decisions.inc({ allow, status, reason });
        latency.observe({ allow }, seconds);
      },
      hit: (c: string) => cache.inc({ cache: c, result: "hit" }),
      miss: (c: string) => cache.inc({ cache: c, result: "miss" }),
    };
  }
  const ours = (text: string) => text.split("\n").filter((l) => /^(# (HELP|TYPE) )?tollgate_(decisions_total|decision_duration_seconds|cache_lookups_total)/.test(l)).join("\n");
  type Event = ["decided", { allow: boolean; status: number; reasons: string[] }, number] | ["hit" | "miss", string];
  const events: Event[] = [
    ["hit", "token"],
    ["decided", { allow: true, status: 200, reasons: [] }, 0.0003],
    ["miss", "project"],
    ["decided", { allow: false, status: 403, reasons: ["insufficient_scope", "not_collaborator"] }, 0.002],
    ["hit", "project"],
    ["decided", { allow: true, status: 200, reasons: [] }, 0.00004],
    ["decided", { allow: false, status: 429, reasons: ["rate_limited"] }, 3],
    ["hit", "token"],
    ["miss", "token"],
  ];
  const play = (target: { decided: (d: Event[1] & object, s: number) => void; hit: (c: string) => void; miss: (c: string) => void }, list: Event[]) => {
    for (const e of list) {
      if (e[0] === "decided") target.decided(e[1], e[2]);
      else target[e[0]](e[1]);
    }
  };

  it("serve exactly what prom-client's inc() per event served, scrape after scrape", async () => {
    const metrics = new Metrics({ policyRevision: () => "r", defaultMetrics: false });
    const ref = reference();
    const asDecision = (d: Event[1] & object) => d as unknown as Parameters<Metrics["decided"]>[0];
    const target = { decided: (d: Event[1] & object, s: number) => metrics.decided(asDecision(d), s), hit: (c: string) => metrics.hit(c), miss: (c: string) => metrics.miss(c) };
    expect(ours(await metrics.registry.metrics())).toBe(ours(await ref.registry.metrics()));
    play(target, events.slice(0, 4));
    play(ref, events.slice(0, 4));
    expect(ours(await metrics.registry.metrics())).toBe(ours(await ref.registry.metrics()));
    play(target, events.slice(4));
    play(ref, events.slice(4));
    const text = ours(await metrics.registry.metrics());
    expect(text).toBe(ours(await ref.registry.metrics()));
    expect(text).toContain('tollgate_decisions_total{allow="true",status="200",reason=""} 2');
    expect(text).toContain('tollgate_cache_lookups_total{cache="token",result="hit"} 2');
    // A scrape with nothing new changes nothing.
    expect(ours(await metrics.registry.metrics())).toBe(text);
  });

  it("sum over workers as before (the primary's AggregatorRegistry reads each worker's JSON)", async () => {
    const workers = [new Metrics({ policyRevision: () => "r", defaultMetrics: false }), new Metrics({ policyRevision: () => "r", defaultMetrics: false })];
    const refs = [reference(), reference()];
    for (const [i, w] of workers.entries()) {
      const list = i === 0 ? events : events.slice(3);
      play({ decided: (d, s) => w.decided(d as unknown as Parameters<Metrics["decided"]>[0], s), hit: (c) => w.hit(c), miss: (c) => w.miss(c) }, list);
      play(refs[i]!, list);
    }
    const sum = async (registries: Registry[]) => ours(await AggregatorRegistry.aggregate(await Promise.all(registries.map((r) => r.getMetricsAsJSON()))).metrics());
    expect(await sum(workers.map((w) => w.registry))).toBe(await sum(refs.map((r) => r.registry)));
  });
});
