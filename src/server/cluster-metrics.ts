import cluster, { type Worker } from "node:cluster";
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from "prom-client";
import type { Metrics } from "../metrics.js";

/**
 * /metrics with TOLLGATE_WORKERS > 1. Whichever worker the scrape lands on asks the primary;
 * the primary collects every serving worker's registry as JSON over the cluster IPC channel,
 * aggregates them with prom-client's AggregatorRegistry (counters and histograms summed, gauges
 * by their own aggregator) and hands the text back. So one scrape of the internal port sees the
 * whole replica, and the primary runs no HTTP server of its own.
 */

/** A worker gets this long to send its metrics; the scrape fails (503) rather than show a partial sum. */
const COLLECT_TIMEOUT_MS = 5_000;

type MetricsJson = Array<MetricObjectWithValues<MetricValue<string>>>;
type Message =
  | { type: "tollgate:scrape"; id: number }
  | { type: "tollgate:scraped"; id: number; text?: string; error?: string }
  | { type: "tollgate:collect"; id: number }
  | { type: "tollgate:collected"; id: number; metrics?: MetricsJson; error?: string };

function isMessage(value: unknown): value is Message {
  return typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string" && (value as { type: string }).type.startsWith("tollgate:");
}

/** The scrape could not be answered for the whole replica. */
export class ClusterScrapeError extends Error {
  override name = "ClusterScrapeError";
}

/**
 * In the primary: answers workers' scrape requests. A worker takes part once it listens (its
 * registry exists by then) and until it exits; a worker that exits during a scrape is left out
 * of it (its counters start again from zero when it is replaced, as after any restart).
 */
export function aggregateWorkerMetrics(): void {
  const serving = new Set<Worker>();
  const pending = new Map<number, { waiting: Set<Worker>; collected: MetricsJson[]; finish(error?: string): void }>();
  let nextId = 0;

  cluster.on("listening", (worker) => serving.add(worker));
  cluster.on("exit", (worker) => {
    serving.delete(worker);
    for (const scrape of pending.values()) if (scrape.waiting.delete(worker) && scrape.waiting.size === 0) scrape.finish();
  });
  cluster.on("message", (worker, message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === "tollgate:scrape") {
      const requester = worker;
      const id = nextId++;
      const waiting = new Set(serving);
      const collected: MetricsJson[] = [];
      const reply = (answer: Omit<Extract<Message, { type: "tollgate:scraped" }>, "type" | "id">): void => {
        if (requester.isConnected()) requester.send({ type: "tollgate:scraped", id: message.id, ...answer } satisfies Message);
      };
      const timer = setTimeout(() => finish(`${waiting.size} worker(s) did not send their metrics within ${COLLECT_TIMEOUT_MS} ms`), COLLECT_TIMEOUT_MS);
      const finish = (error?: string): void => {
        if (!pending.delete(id)) return;
        clearTimeout(timer);
        if (error) return reply({ error });
        try {
          // aggregate() returns a plain Registry, whose metrics() resolves the exposition text.
          void AggregatorRegistry.aggregate(collected)
            .metrics()
            .then((text) => reply({ text }), (err: unknown) => reply({ error: String(err) }));
        } catch (err) {
          reply({ error: String(err) });
        }
      };
      pending.set(id, { waiting, collected, finish });
      for (const w of waiting) {
        if (w.isConnected()) w.send({ type: "tollgate:collect", id } satisfies Message);
        else waiting.delete(w);
      }
      if (waiting.size === 0) finish();
    } else if (message.type === "tollgate:collected") {
      const scrape = pending.get(message.id);
      if (!scrape || !scrape.waiting.delete(worker)) return;
      if (message.error !== undefined || !message.metrics) return scrape.finish(`a worker could not read its metrics: ${message.error ?? "no metrics"}`);
      scrape.collected.push(message.metrics);
      if (scrape.waiting.size === 0) scrape.finish();
    }
  });
}

/**
 * In a worker: sends this worker's registry when the primary collects, and makes the worker's
 * /metrics serve the primary's aggregate of all workers.
 */
export function shareMetricsWithPrimary(metrics: Metrics): void {
  const send = (message: Message): void => {
    if (process.connected) process.send!(message);
  };
  const waiting = new Map<number, { resolve(text: string): void; reject(err: Error): void; timer: NodeJS.Timeout }>();
  let nextId = 0;
  process.on("message", (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === "tollgate:collect") {
      metrics.registry.getMetricsAsJSON().then(
        (json) => send({ type: "tollgate:collected", id: message.id, metrics: json }),
        (err: unknown) => send({ type: "tollgate:collected", id: message.id, error: String(err) }),
      );
    } else if (message.type === "tollgate:scraped") {
      const scrape = waiting.get(message.id);
      if (!scrape) return;
      waiting.delete(message.id);
      clearTimeout(scrape.timer);
      if (message.text !== undefined) scrape.resolve(message.text);
      else scrape.reject(new ClusterScrapeError(message.error ?? "no answer"));
    }
  });
  metrics.exposeFrom(
    () =>
      new Promise<string>((resolve, reject) => {
        if (!process.connected) return reject(new ClusterScrapeError("the primary process is gone"));
        const id = nextId++;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new ClusterScrapeError("the primary did not answer"));
        }, COLLECT_TIMEOUT_MS + 1_000);
        waiting.set(id, { resolve, reject, timer });
        send({ type: "tollgate:scrape", id });
      }),
  );
}
