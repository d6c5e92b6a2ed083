import { describe, expect, it } from "vitest";
import { CachedFacts } from "../../src/facts/cached-facts.js";
import { MemoryDirectoryStore } from "../../src/stores/memory/directory-store.js";
import { MemoryTokenStore } from "../../src/stores/memory/token-store.js";

/** A directory store that counts its collaborator reads. */
class CountingDirectory extends MemoryDirectoryStore {
  single = 0;
  batched: string[][] = [];

  override getCollaboratorRole(projectId: string, userId: string) {
    this.single++;
    return super.getCollaboratorRole(projectId, userId);
  }

  override getCollaboratorRoles(userId: string, projectIds: readonly string[]) {
    this.batched.push([...projectIds]);
    return super.getCollaboratorRoles(userId, projectIds);
  }
}

async function setup(ttlMs = 60_000) {
  const directory = new CountingDirectory();
  for (const id of ["p1", "p2", "p3"]) await directory.putProject({ id, name: id, public: false });
  await directory.setCollaborator("p1", "u1", "Owner");
  await directory.setCollaborator("p3", "u1", "Developer");
  const counted = { hits: 0, misses: 0 };
  const facts = new CachedFacts(new MemoryTokenStore(), directory, {
    ttlMs,
    counters: { hit: () => void counted.hits++, miss: () => void counted.misses++ },
  });
  return { directory, facts, counted };
}

describe("CachedFacts.collaboratorRoles", () => {
  it("reads the roles it has not cached in one store call, and shares entries with collaboratorRole()", async () => {
    const { directory, facts, counted } = await setup();
    expect(await facts.collaboratorRole("p1", "u1")).toBe("Owner");
    const roles = await facts.collaboratorRoles(["p3", "p1", "p2", "p3"], "u1");
    expect(Object.fromEntries(roles)).toEqual({ p1: "Owner", p2: null, p3: "Developer" });
    expect(directory.batched).toEqual([["p3", "p2"]]);
    expect(counted).toEqual({ hits: 1, misses: 3 });

    // Everything is cached now, absences included: no further store reads either way.
    expect(Object.fromEntries(await facts.collaboratorRoles(["p1", "p2", "p3"], "u1"))).toEqual({ p1: "Owner", p2: null, p3: "Developer" });
    expect(await facts.collaboratorRole("p2", "u1")).toBeNull();
    expect(directory.batched).toHaveLength(1);
    expect(directory.single).toBe(1);
  });

  it("reads again what was written through it, and everything when caching is off", async () => {
    const { directory, facts } = await setup();
    await facts.collaboratorRoles(["p1", "p3"], "u1");
    await facts.directoryStore.removeCollaborator("p1", "u1");
    expect(Object.fromEntries(await facts.collaboratorRoles(["p1", "p3"], "u1"))).toEqual({ p1: null, p3: "Developer" });
    expect(directory.batched).toEqual([["p1", "p3"], ["p1"]]);

    const uncached = await setup(0);
    await uncached.facts.collaboratorRoles(["p1"], "u1");
    await uncached.facts.collaboratorRoles(["p1"], "u1");
    expect(uncached.directory.batched).toEqual([["p1"], ["p1"]]);
  });

  it("makes no store call for no projects", async () => {
    const { directory, facts } = await setup();
    expect((await facts.collaboratorRoles([], "u1")).size).toBe(0);
    expect(directory.batched).toEqual([]);
  });
});
