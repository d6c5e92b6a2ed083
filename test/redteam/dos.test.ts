// Red-team cases for cheap denial of service: per-request state that an outsider can grow
// with unique values (long ids, unique paths) stays bounded, and never costs a backend trip.
import request from "supertest";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { buildWorld, type World } from "../http/fixture.js";

let world: World;
beforeAll(async () => {
  world = await buildWorld();
});

describe("ids no store can hold are never looked up nor remembered", () => {
  it("a project id longer than any project's (or outside the id alphabet) costs no lookup and no cache entry", async () => {
    const dir = world.tollgate.facts.directoryStore;
    const getProject = vi.spyOn(dir, "getProject");
    const getRole = vi.spyOn(dir, "getCollaboratorRole");
    const jwt = await world.session("bob");
    try {
      for (const id of ["p".repeat(3000), `a${"b".repeat(128)}`, "pub~x", "-pub"]) {
        const anonymous = await request(world.tollgate.app).get(`/api/v1/projects/${id}/builds`);
        const session = await request(world.tollgate.app).get(`/api/v1/projects/${id}/builds`).set("Authorization", `Bearer ${jwt}`);
        for (const res of [anonymous, session]) {
          expect(res.status, id.slice(0, 20)).toBeGreaterThanOrEqual(400);
          expect(res.status, id.slice(0, 20)).toBeLessThan(500);
        }
      }
      expect(getProject).not.toHaveBeenCalled();
      expect(getRole).not.toHaveBeenCalled();
    } finally {
      getProject.mockRestore();
      getRole.mockRestore();
    }
  });

  it("a real project id is still looked up (pinned)", async () => {
    const getProject = vi.spyOn(world.tollgate.facts.directoryStore, "getProject");
    try {
      await request(world.tollgate.app).get("/api/v1/projects/a-new-project.1/builds");
      expect(getProject).toHaveBeenCalledWith("a-new-project.1");
    } finally {
      getProject.mockRestore();
    }
  });
});

describe("the route cache stays bounded under unique paths (pinned)", () => {
  it("unique query strings share one entry; over-long paths are not cached", async () => {
    const before = world.tollgate.engine.cachedRoutes;
    for (let i = 0; i < 20; i++) await request(world.tollgate.app).get(`/api/v1/projects/pub/builds?q=${i}-${"x".repeat(1000)}`);
    expect(world.tollgate.engine.cachedRoutes - before).toBeLessThanOrEqual(1);
    const mid = world.tollgate.engine.cachedRoutes;
    for (let i = 0; i < 5; i++) await request(world.tollgate.app).get(`/api/v1/projects/pub/builds/${i}${"y".repeat(3000)}`);
    expect(world.tollgate.engine.cachedRoutes).toBe(mid);
  });
});
