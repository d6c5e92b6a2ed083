import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NotFoundError, type DirectoryStore, type Project, type User } from "../../src/stores/types.js";
import { expectValidationError, type Fixture, type FixtureFactory } from "../support/fixtures.js";

export function describeDirectoryStoreContract(name: string, factory: FixtureFactory<DirectoryStore>): void {
  describe(`DirectoryStore contract: ${name}`, () => {
    let fx: Fixture<DirectoryStore>;
    let store: DirectoryStore;
    beforeEach(async () => {
      fx = await factory();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup?.();
    });

    it("upserts and reads users", async () => {
      expect(await store.getUser("alice")).toBeNull();
      await store.putUser({ id: "alice", system_role: "user" });
      expect(await store.getUser("alice")).toEqual({ id: "alice", system_role: "user" });
      await store.putUser({ id: "alice", system_role: "admin" });
      expect(await store.getUser("alice")).toEqual({ id: "alice", system_role: "admin" });
      expect(await store.getUser("bob")).toBeNull();
      expect(await store.getUser("not valid")).toBeNull();
      expect(await store.getUser({ $ne: null } as never)).toBeNull();
    });

    it("takes user ids as identity providers issue them, and the same alphabet everywhere", async () => {
      const ids = ["auth0|abc123", "google-oauth2|1234", "jane.doe+ci@example.com", "-x", "u".repeat(255)];
      await store.putProject({ id: "proj-1", name: "One", public: false });
      for (const id of ids) {
        await store.putUser({ id, system_role: "user" });
        expect(await store.getUser(id)).toEqual({ id, system_role: "user" });
        await store.setCollaborator("proj-1", id, "Developer");
        expect(await store.getCollaboratorRole("proj-1", id)).toBe("Developer");
        expect(await store.listProjectsOf(id)).toEqual([{ project: { id: "proj-1", name: "One", public: false }, role: "Developer" }]);
        expect(await store.removeCollaborator("proj-1", id)).toBe(true);
      }
      for (const bad of ["a,b", "a;b", 'a"b', "a\\b", "u".repeat(256)]) {
        await expectValidationError(store.setCollaborator("proj-1", bad, "Owner"), "user_id");
        expect(await store.getUser(bad)).toBeNull();
        expect(await store.getCollaboratorRole("proj-1", bad)).toBeNull();
      }
    });

    it("upserts and reads projects", async () => {
      expect(await store.getProject("proj-1")).toBeNull();
      await store.putProject({ id: "proj-1", name: "Project One", public: false });
      expect(await store.getProject("proj-1")).toEqual({ id: "proj-1", name: "Project One", public: false });
      await store.putProject({ id: "proj-1", name: "Renamed", public: true });
      expect(await store.getProject("proj-1")).toEqual({ id: "proj-1", name: "Renamed", public: true });
    });

    it.each<[string, unknown]>([
      ["id", { id: "al/ice", system_role: "user" }],
      ["id", { id: "a".repeat(256), system_role: "user" }],
      ["id", { id: "jürgen", system_role: "user" }],
      ["id", { id: "", system_role: "user" }],
      ["system_role", { id: "alice", system_role: "root" }],
      ["system_role", { id: "alice" }],
      ["extra", { id: "alice", system_role: "user", extra: 1 }],
      ["user", "alice"],
    ])("rejects an invalid user naming %s", async (field, user) => {
      await expectValidationError(store.putUser(user as User), field);
      expect(await store.getUser("alice")).toBeNull();
    });

    it.each<[string, unknown]>([
      ["id", { id: "a/b", name: "x", public: true }],
      ["name", { id: "p", name: "", public: true }],
      ["name", { id: "p", name: "n".repeat(101), public: true }],
      ["name", { id: "p", name: 42, public: true }],
      ["public", { id: "p", name: "x", public: "yes" }],
      ["project", [{ id: "p", name: "x", public: true }]],
    ])("rejects an invalid project naming %s", async (field, project) => {
      await expectValidationError(store.putProject(project as Project), field);
      expect(await store.getProject("p")).toBeNull();
    });

    it("accepts boundary ids", async () => {
      const long = "a" + "._-9".repeat(31) + "xyz"; // 128 characters
      expect(long).toHaveLength(128);
      await store.putUser({ id: long, system_role: "viewer" });
      await store.putUser({ id: "0", system_role: "viewer" });
      expect(await store.getUser(long)).toEqual({ id: long, system_role: "viewer" });
      expect(await store.getUser("0")).toEqual({ id: "0", system_role: "viewer" });
    });

    it("copies on write and on read", async () => {
      const user: User = { id: "alice", system_role: "user" };
      const project: Project = { id: "proj-1", name: "One", public: false };
      await store.putUser(user);
      await store.putProject(project);
      user.system_role = "admin";
      project.public = true;
      expect(await store.getUser("alice")).toEqual({ id: "alice", system_role: "user" });
      expect(await store.getProject("proj-1")).toEqual({ id: "proj-1", name: "One", public: false });
      // A value read cannot change what the store holds: it is a copy, or frozen (the caching
      // decorator serves its cached value frozen rather than cloning it on every hit).
      const mutate = (change: () => void): void => {
        try {
          change();
        } catch (err) {
          if (!(err instanceof TypeError)) throw err;
        }
      };
      const read = (await store.getProject("proj-1"))!;
      mutate(() => (read.name = "changed"));
      await store.setCollaborator("proj-1", "alice", "Owner");
      const listed = await store.listProjectsOf("alice");
      mutate(() => (listed[0]!.project.name = "changed"));
      expect(await store.getProject("proj-1")).toEqual({ id: "proj-1", name: "One", public: false });
      expect(await store.listProjectsOf("alice")).toEqual([{ project: { id: "proj-1", name: "One", public: false }, role: "Owner" }]);
    });

    it("upserts and removes collaborators", async () => {
      await store.putProject({ id: "proj-1", name: "One", public: false });
      expect(await store.getCollaboratorRole("proj-1", "alice")).toBeNull();
      await store.setCollaborator("proj-1", "alice", "Developer");
      expect(await store.getCollaboratorRole("proj-1", "alice")).toBe("Developer");
      await store.setCollaborator("proj-1", "alice", "Owner");
      expect(await store.getCollaboratorRole("proj-1", "alice")).toBe("Owner");
      expect(await store.getCollaboratorRole("proj-1", "bob")).toBeNull();
      expect(await store.getCollaboratorRole("proj-2", "alice")).toBeNull();
      expect(await store.removeCollaborator("proj-1", "alice")).toBe(true);
      expect(await store.removeCollaborator("proj-1", "alice")).toBe(false);
      expect(await store.removeCollaborator("nope", "alice")).toBe(false);
      expect(await store.getCollaboratorRole("proj-1", "alice")).toBeNull();
      expect(await store.listProjectsOf("alice")).toEqual([]);
    });

    it("requires the project to exist and validates collaborator input", async () => {
      const err = await store.setCollaborator("ghost", "alice", "Owner").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotFoundError);
      expect(err).toMatchObject({ code: "not_found", entity: "project", id: "ghost" });
      expect(await store.getCollaboratorRole("ghost", "alice")).toBeNull();
      await store.putProject({ id: "proj-1", name: "One", public: false });
      await expectValidationError(store.setCollaborator("proj-1", "alice", "owner" as never), "role");
      await expectValidationError(store.setCollaborator("proj-1", "al ice", "Owner"), "user_id");
      await expectValidationError(store.setCollaborator("", "alice", "Owner"), "project_id");
      expect(await store.listProjectsOf("alice")).toEqual([]);
    });

    it("lists a user's projects with roles, ordered by project id", async () => {
      for (const id of ["zeta", "alpha", "mid", "other"]) await store.putProject({ id, name: id.toUpperCase(), public: id === "mid" });
      await store.setCollaborator("zeta", "alice", "Developer");
      await store.setCollaborator("alpha", "alice", "Owner");
      await store.setCollaborator("mid", "alice", "Administrator");
      await store.setCollaborator("other", "bob", "Owner");
      await store.setCollaborator("alpha", "bob", "Developer");
      expect(await store.listProjectsOf("alice")).toEqual([
        { project: { id: "alpha", name: "ALPHA", public: false }, role: "Owner" },
        { project: { id: "mid", name: "MID", public: true }, role: "Administrator" },
        { project: { id: "zeta", name: "ZETA", public: false }, role: "Developer" },
      ]);
      await store.putProject({ id: "zeta", name: "Zeta renamed", public: true });
      expect((await store.listProjectsOf("alice")).at(-1)).toEqual({ project: { id: "zeta", name: "Zeta renamed", public: true }, role: "Developer" });
      expect((await store.listProjectsOf("bob")).map((e) => [e.project.id, e.role])).toEqual([
        ["alpha", "Developer"],
        ["other", "Owner"],
      ]);
      expect(await store.listProjectsOf("carol")).toEqual([]);
      expect(await store.listProjectsOf({ $ne: null } as never)).toEqual([]);
    });

    it("reads a user's roles in several projects at once", async () => {
      for (const id of ["alpha", "beta", "gamma"]) await store.putProject({ id, name: id, public: false });
      await store.setCollaborator("alpha", "alice", "Owner");
      await store.setCollaborator("gamma", "alice", "Developer");
      await store.setCollaborator("beta", "bob", "Administrator");
      const roles = await store.getCollaboratorRoles("alice", ["gamma", "beta", "alpha", "nowhere", "alpha", "not valid"]);
      expect(Object.fromEntries([...roles].sort())).toEqual({ alpha: "Owner", gamma: "Developer" });
      expect((await store.getCollaboratorRoles("alice", [])).size).toBe(0);
      expect((await store.getCollaboratorRoles("carol", ["alpha"])).size).toBe(0);
      expect((await store.getCollaboratorRoles({ $ne: null } as never, ["alpha"])).size).toBe(0);
      expect((await store.getCollaboratorRoles("alice", [{ $ne: null }] as never)).size).toBe(0);
      await store.removeCollaborator("alpha", "alice");
      expect([...(await store.getCollaboratorRoles("alice", ["alpha", "gamma"]))]).toEqual([["gamma", "Developer"]]);
    });

    it("concurrent upserts of a new key leave one record", async () => {
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.putUser({ id: "racer", system_role: i % 2 ? "admin" : "user" })));
      expect((await store.getUser("racer"))?.id).toBe("racer");
      await store.putProject({ id: "p", name: "P", public: false });
      await Promise.all(Array.from({ length: 20 }, () => store.setCollaborator("p", "racer", "Developer")));
      expect(await store.listProjectsOf("racer")).toEqual([{ project: { id: "p", name: "P", public: false }, role: "Developer" }]);
    });
  });
}
