import { describe, expect, it } from "vitest";
import { CachedFacts } from "../../src/facts/cached-facts.js";
import type { ChangeEvent, InvalidationBus, SubscriptionState } from "../../src/facts/invalidation.js";
import { LocalInvalidationBus } from "../../src/facts/invalidation.js";
import { MemoryDirectoryStore } from "../../src/stores/memory/directory-store.js";
import { MemoryTokenStore } from "../../src/stores/memory/token-store.js";
import { BackendUnavailableError, type TokenRecord, type User } from "../../src/stores/types.js";
import { at, globalToken } from "../support/fixtures.js";

/** A bus that records what is published and lets the test deliver events and change its state. */
class TestBus implements InvalidationBus {
  state: SubscriptionState = "up";
  readonly published: ChangeEvent[] = [];
  #change: Array<(e: ChangeEvent) => void> = [];
  #state: Array<(s: SubscriptionState) => void> = [];
  publish(event: ChangeEvent): void {
    this.published.push(event);
  }
  onChange(listener: (e: ChangeEvent) => void): void {
    this.#change.push(listener);
  }
  onState(listener: (s: SubscriptionState) => void): void {
    this.#state.push(listener);
  }
  deliver(event: ChangeEvent): void {
    for (const l of this.#change) l(event);
  }
  set(state: SubscriptionState): void {
    this.state = state;
    for (const l of this.#state) l(state);
  }
  async close(): Promise<void> {}
}

/** A token store whose findByHash calls are counted and can be held until the test releases them. */
class HeldTokenStore extends MemoryTokenStore {
  reads = 0;
  hold = false;
  readonly held: Array<() => void> = [];
  override async findByHash(hash: string): Promise<TokenRecord | null> {
    this.reads++;
    const record = await super.findByHash(hash); // read now: the answer is the fact as it is now
    if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
    return record;
  }
}

describe("write-through decorators", () => {
  it("every write invalidates this process's entry and publishes the change (token by hash, collaborator as project/user)", async () => {
    const bus = new TestBus();
    const tokens = new HeldTokenStore();
    const facts = new CachedFacts(tokens, new MemoryDirectoryStore(), { ttlMs: 600_000, bus });
    const record = globalToken();
    await facts.tokenStore.create(record);
    await facts.tokenByHash(record.hash);
    await facts.tokenByHash(record.hash);
    expect(tokens.reads).toBe(1);

    await facts.tokenStore.revoke(record.id, at(1));
    expect((await facts.tokenByHash(record.hash))?.revoked_at).not.toBeNull();
    expect(tokens.reads).toBe(1); // the cached record was revised, not read again
    await facts.tokenStore.update(record.id, { name: "renamed" });
    expect(await facts.tokenByHash(record.hash)).toMatchObject({ name: "renamed", revoked_at: at(1) });

    const dir = facts.directoryStore;
    await dir.putUser({ id: "alice", system_role: "admin" });
    await dir.putProject({ id: "p1", name: "P", public: false });
    await dir.setCollaborator("p1", "alice", "Owner");
    expect(await facts.collaboratorRole("p1", "alice")).toBe("Owner");
    expect(await dir.removeCollaborator("p1", "alice")).toBe(true);
    expect(await facts.collaboratorRole("p1", "alice")).toBeNull();
    expect(await dir.removeCollaborator("p1", "alice")).toBe(false); // nothing changed: nothing published
    await dir.putUser({ id: "alice", system_role: "viewer" });
    expect((await facts.user("alice"))?.system_role).toBe("viewer");

    expect(bus.published).toEqual([
      { kind: "token", id: record.hash, revoked: true },
      { kind: "token", id: record.hash },
      { kind: "user", id: "alice" },
      { kind: "project", id: "p1" },
      { kind: "collaborator", id: "p1/alice" },
      { kind: "collaborator", id: "p1/alice" },
      { kind: "user", id: "alice" },
    ]);
  });

  it("a failed write publishes nothing", async () => {
    const bus = new TestBus();
    const facts = new CachedFacts(new MemoryTokenStore(), new MemoryDirectoryStore(), { ttlMs: 600_000, bus });
    await expect(facts.directoryStore.setCollaborator("nope", "alice", "Owner")).rejects.toThrow();
    expect(await facts.tokenStore.revoke("tok_absent", at(0))).toBe(false);
    expect(bus.published).toEqual([]);
  });

  it("a write whose outcome is unknown (the backend failed, the write may have landed) is announced as a change, never as a revocation", async () => {
    /** Applies every write, then loses the reply. */
    class LostReplies extends MemoryDirectoryStore {
      override async putUser(user: User): Promise<void> {
        await super.putUser(user);
        throw new BackendUnavailableError("mongodb", "reply lost");
      }
    }
    class LostRevokeReply extends MemoryTokenStore {
      override async revoke(id: string, at: Date): Promise<boolean> {
        await super.revoke(id, at);
        throw new BackendUnavailableError("mongodb", "reply lost");
      }
    }
    const bus = new TestBus();
    const facts = new CachedFacts(new LostRevokeReply(), new LostReplies(), { ttlMs: 600_000, bus });
    const record = globalToken();
    await facts.tokenStore.create(record);
    await expect(facts.directoryStore.putUser({ id: "alice", system_role: "admin" })).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(facts.tokenStore.revoke(record.id, at(1))).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(facts.directoryStore.putUser({ id: "bad id!", system_role: "admin" })).rejects.toThrow(); // refused: nothing written
    expect(bus.published).toEqual([
      { kind: "user", id: "alice" },
      { kind: "token", id: record.hash },
    ]);
  });

  it("a change published by another process drops this process's entry", async () => {
    const bus = new LocalInvalidationBus();
    const shared = { tokens: new HeldTokenStore(), directory: new MemoryDirectoryStore() };
    const a = new CachedFacts(shared.tokens, shared.directory, { ttlMs: 600_000, bus });
    const b = new CachedFacts(shared.tokens, shared.directory, { ttlMs: 600_000, bus });
    const record = globalToken();
    await a.tokenStore.create(record);
    expect((await b.tokenByHash(record.hash))?.revoked_at).toBeNull();
    await a.tokenStore.revoke(record.id, at(5));
    expect((await b.tokenByHash(record.hash))?.revoked_at).not.toBeNull();
    await a.tokenStore.update(record.id, { name: "renamed" });
    expect(await b.tokenByHash(record.hash)).toMatchObject({ name: "renamed", revoked_at: at(5) });
  });

  it("a revocation heard from another process denies a cached token without a store read", async () => {
    const bus = new TestBus();
    const tokens = new HeldTokenStore();
    const b = new CachedFacts(tokens, new MemoryDirectoryStore(), { ttlMs: 600_000, bus, now: () => 42_000 });
    const record = globalToken();
    await tokens.create(record);
    expect((await b.tokenByHash(record.hash))?.revoked_at).toBeNull();
    bus.deliver({ kind: "token", id: record.hash, revoked: true });
    expect(await b.tokenByHash(record.hash)).toEqual({ ...record, revoked_at: new Date(42_000) });
    expect(tokens.reads).toBe(1);
  });

  it("a store that still answers a heard revocation unrevoked (a lost write, a lagging secondary) does not make the token valid again", async () => {
    const bus = new TestBus();
    const tokens = new HeldTokenStore();
    const b = new CachedFacts(tokens, new MemoryDirectoryStore(), { ttlMs: 600_000, bus });
    const record = globalToken();
    await tokens.create(record); // never revoked in this store
    bus.deliver({ kind: "token", id: record.hash, revoked: true }); // not cached here
    expect((await b.tokenByHash(record.hash))?.revoked_at).not.toBeNull();
    bus.deliver({ kind: "token", id: record.hash }); // a later change drops the entry …
    expect((await b.tokenByHash(record.hash))?.revoked_at).not.toBeNull(); // … but not the revocation
    expect(tokens.reads).toBe(2);
  });

  it("a read that started before a heard revocation does not put the valid token back, and the next read needs no store", async () => {
    const bus = new TestBus();
    const tokens = new HeldTokenStore();
    const b = new CachedFacts(tokens, new MemoryDirectoryStore(), { ttlMs: 600_000, bus });
    const record = globalToken();
    await tokens.create(record);

    tokens.hold = true;
    const late = b.tokenByHash(record.hash); // reads the unrevoked record, then waits
    await tokens.revoke(record.id, at(7));
    bus.deliver({ kind: "token", id: record.hash, revoked: true }); // arrives while that read is held
    tokens.hold = false;
    tokens.held.forEach((release) => release());
    expect((await late)?.revoked_at).not.toBeNull(); // even that caller is denied: the revocation was heard before its answer
    expect((await b.tokenByHash(record.hash))?.revoked_at).not.toBeNull();
    expect(tokens.reads).toBe(2); // the late fill was not stored; the second read stored the revoked record
    expect((await b.tokenByHash(record.hash))?.revoked_at).toEqual(at(7));
    expect(tokens.reads).toBe(2);
  });

  it("a read that started before an invalidation does not put the old fact back in the cache", async () => {
    const bus = new TestBus();
    const tokens = new HeldTokenStore();
    const b = new CachedFacts(tokens, new MemoryDirectoryStore(), { ttlMs: 600_000, bus });
    const record = globalToken();
    await tokens.create(record);

    tokens.hold = true;
    const late = b.tokenByHash(record.hash); // reads the unrevoked record, then waits
    await tokens.revoke(record.id, at(7)); // another replica revokes …
    bus.deliver({ kind: "token", id: record.hash }); // … and its invalidation arrives first
    tokens.hold = false;
    tokens.held.forEach((release) => release());
    expect((await late)?.revoked_at).toBeNull(); // that caller asked before the revoke

    expect((await b.tokenByHash(record.hash))?.revoked_at).toEqual(at(7));
    expect(tokens.reads).toBe(2);
  });

  it("while the bus is down serves nothing older than the degraded TTL, and forgets everything when it is back", async () => {
    let now = 1_000_000;
    const bus = new TestBus();
    const tokens = new HeldTokenStore();
    const facts = new CachedFacts(tokens, new MemoryDirectoryStore(), { ttlMs: 600_000, degradedTtlMs: 100, bus, now: () => now });
    const record = globalToken();
    await tokens.create(record);
    await facts.tokenByHash(record.hash); // read 1, cached at t0
    bus.set("down");
    now += 50;
    await facts.tokenByHash(record.hash); // 50 ms old: served
    expect(tokens.reads).toBe(1);
    now += 50;
    await facts.tokenByHash(record.hash); // 100 ms old: read again (read 2), cached anew
    await facts.tokenByHash(record.hash);
    expect(tokens.reads).toBe(2);
    bus.set("up");
    await facts.tokenByHash(record.hash); // cleared on resubscribe: read 3
    await facts.tokenByHash(record.hash);
    expect(tokens.reads).toBe(3);
  });

  it("with the default degraded TTL (0) every read goes to the store while the bus is down", async () => {
    const bus = new TestBus();
    bus.state = "down";
    const tokens = new HeldTokenStore();
    const facts = new CachedFacts(tokens, new MemoryDirectoryStore(), { ttlMs: 600_000, bus });
    const record = globalToken();
    await tokens.create(record);
    for (let i = 0; i < 3; i++) await facts.tokenByHash(record.hash);
    expect(tokens.reads).toBe(3);
  });
});
