// /healthz fails only on a local wedge (a MongoDB client that could not be re-created for 60 s,
// an event-loop stall over 5 s), never because a backend is down. Clocks are injected: no real
// 60 s or 5 s waits.
import { Writable } from "node:stream";
import { pino } from "pino";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { EventLoopWatch, Readiness } from "../../src/http/readiness.js";
import { MONGO_WEDGE_MS, connectMongo } from "../../src/stores/mongo/client.js";
import { sleep } from "../support/fixtures.js";
import { CLOSED_PORT } from "../support/servers.js";
import { buildWorld } from "./fixture.js";

const silent = pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() }));

describe("GET /healthz", () => {
  it("200 ok with its checks, also while every backend is down", async () => {
    const world = await buildWorld();
    Object.assign(world.tollgate.backends.readiness, { mongodb: { required: true, probe: () => Promise.reject(new Error("down")) } });
    const res = await request(world.tollgate.app).get("/healthz");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok", checks: { event_loop: "ok" } });
    expect((await request(world.tollgate.app).get("/readyz")).status).toBe(503);
    await world.tollgate.close();
  });

  it("503 wedged, naming the part, when one is wedged", async () => {
    const readiness = new Readiness({}, silent, { event_loop: { wedged: () => false }, mongodb_client: { wedged: () => true } });
    expect(readiness.liveness()).toEqual({ status: "wedged", checks: { event_loop: "ok", mongodb_client: "wedged" } });
    const world = await buildWorld();
    Object.assign(world.tollgate.backends.liveness, { mongodb_client: { wedged: () => true } });
    // The wedge checks are taken when Tollgate is built: build one on these backends.
    const { buildTollgateAt, NOW } = await import("./fixture.js");
    const wedged = buildTollgateAt(NOW, {}, world.tollgate.backends);
    const res = await request(wedged.app).get("/healthz");
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ status: "wedged", checks: { mongodb_client: "wedged", event_loop: "ok" } });
    await wedged.close();
  });
});

describe("EventLoopWatch", () => {
  it("is wedged for a while after a tick more than 5 s late, not for shorter stalls", () => {
    let now = 0;
    const watch = new EventLoopWatch({ intervalMs: 500, now: () => now });
    for (let i = 0; i < 10; i++) {
      now += 500;
      watch.tick();
    }
    now += 500 + 4_900; // a 4.9 s stall: slow, not wedged
    watch.tick();
    expect(watch.wedged()).toBe(false);
    now += 500 + 5_100;
    watch.tick();
    expect(watch.wedged()).toBe(true);
    now += 29_000;
    expect(watch.wedged()).toBe(true);
    now += 1_000; // reported for 30 s after it ended
    expect(watch.wedged()).toBe(false);
  });
});

describe("connectMongo wedged()", () => {
  it("only when one connect attempt has been under way for 60 s; a server that is down is no wedge", async () => {
    let now = 0;
    const mongo = connectMongo(`mongodb://127.0.0.1:${CLOSED_PORT}/`, "x", silent, {}, { now: () => now });
    try {
      // The first attempt is under way: stuck as long as the clock says.
      now += MONGO_WEDGE_MS - 1;
      expect(mongo.wedged()).toBe(false);
      now += 1;
      expect(mongo.wedged()).toBe(true);
      // It fails (nothing listens) and is retried: each attempt settles within seconds, so however long the server stays down, no wedge.
      for (const end = Date.now() + 30_000; mongo.wedged() && Date.now() < end; ) await sleep(100);
      expect(mongo.wedged()).toBe(false);
      now += 10 * MONGO_WEDGE_MS;
      await sleep(3_000); // the next attempt starts and fails in the meantime
      now += MONGO_WEDGE_MS - 1;
      expect(mongo.wedged()).toBe(false);
    } finally {
      await mongo.close();
    }
  });
});
