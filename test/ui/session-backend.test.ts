// Where browser sessions are kept, as the other shared stores choose: Redis when configured,
// else MongoDB, else memory (nothing is reached here: the choice is made at wiring time).
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { connectBackends } from "../../src/server/backends.js";
import { MemoryBrowserSessionStore } from "../../src/stores/memory/browser-session-store.js";
import { MongoBrowserSessionStore } from "../../src/stores/mongo/browser-session-store.js";
import { RedisBrowserSessionStore } from "../../src/stores/redis/browser-session-store.js";
import { CLOSED_PORT } from "../support/servers.js";

const MONGODB_URI = `mongodb://127.0.0.1:${CLOSED_PORT}/?serverSelectionTimeoutMS=200`;
const REDIS_URL = `redis://127.0.0.1:${CLOSED_PORT}`;

async function storeFor(env: Record<string, string>): Promise<unknown> {
  const backends = connectBackends(loadConfig({ TOLLGATE_DEMO: "false", ...env }), pino({ level: "silent" }), undefined, undefined, { prune: false });
  try {
    return backends.browserSessions;
  } finally {
    await backends.close();
  }
}

describe("the browser session store", () => {
  it("is Redis when configured, with or without MongoDB", async () => {
    expect(await storeFor({ REDIS_URL, MONGODB_URI })).toBeInstanceOf(RedisBrowserSessionStore);
    expect(await storeFor({ REDIS_URL })).toBeInstanceOf(RedisBrowserSessionStore);
  });

  it("is MongoDB without Redis, and memory without either", async () => {
    expect(await storeFor({ MONGODB_URI })).toBeInstanceOf(MongoBrowserSessionStore);
    expect(await storeFor({})).toBeInstanceOf(MemoryBrowserSessionStore);
  });
});
