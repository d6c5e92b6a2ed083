import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DuplicateError, type TokenRecord, type TokenStore } from "../../src/stores/types.js";
import { at, expectValidationError, globalToken, mcpToken, projectToken, T0, type Fixture, type FixtureFactory } from "../support/fixtures.js";

export function describeTokenStoreContract(name: string, factory: FixtureFactory<TokenStore>): void {
  describe(`TokenStore contract: ${name}`, () => {
    let fx: Fixture<TokenStore>;
    let store: TokenStore;
    beforeEach(async () => {
      fx = await factory();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup?.();
    });

    it.each([
      ["global", globalToken],
      ["project", projectToken],
      ["mcp", mcpToken],
    ] as const)("round-trips a %s token by id and by hash", async (_kind, make) => {
      const r = make();
      await store.create(r);
      expect(await store.get(r.id)).toEqual(r);
      expect(await store.findByHash(r.hash)).toEqual(r);
      const got = await store.get(r.id);
      expect(got?.created_at).toBeInstanceOf(Date);
      expect(got?.created_at.getTime()).toBe(T0.getTime());
    });

    it("keeps an OAuth-issued MCP token's binding (client and grant) through create, read, update and list; refuses it on other kinds", async () => {
      const oauth = { client_id: "https://client.example.com/metadata.json", client_name: "Example Agent", client_uri: "https://client.example.com/", grant_id: "grant-1" };
      const r = mcpToken({ oauth });
      await store.create(r);
      expect(await store.get(r.id)).toEqual(r);
      expect(await store.findByHash(r.hash)).toEqual(r);
      expect((await store.update(r.id, { name: "renamed" }))?.oauth).toEqual(oauth);
      expect((await store.listByUser(r.user_id!)).find((t) => t.id === r.id)?.oauth).toEqual(oauth);
      expect((await store.get(r.id))).not.toHaveProperty("oauth.extra");
      await expectValidationError(store.create(globalToken({ oauth })), "oauth");
      await expectValidationError(store.create(mcpToken({ oauth: { ...oauth, grant_id: "" } })), "oauth.grant_id");
      await expectValidationError(store.create(mcpToken({ oauth: { ...oauth, client_uri: "javascript:alert(1)" } })), "oauth.client_uri");
      const plain = mcpToken();
      await store.create(plain);
      expect(await store.get(plain.id)).not.toHaveProperty("oauth");
    });

    it("answers null for unknown or malformed keys", async () => {
      await store.create(globalToken());
      expect(await store.get("tok_unknown")).toBeNull();
      expect(await store.findByHash("f".repeat(64))).toBeNull();
      expect(await store.findByHash("not-a-hash")).toBeNull();
      expect(await store.findByHash("F".repeat(64))).toBeNull();
      expect(await store.get("../etc")).toBeNull();
      // Query-operator injection never reaches the backend.
      expect(await store.findByHash({ $ne: null } as unknown as string)).toBeNull();
      expect(await store.get({ $gt: "" } as unknown as string)).toBeNull();
      expect(await store.listByUser({ $ne: null } as unknown as string)).toEqual([]);
    });

    const invalid: Array<[string, () => unknown]> = [
      ["id", () => globalToken({ id: "bad id!" })],
      ["id", () => globalToken({ id: "" })],
      ["kind", () => globalToken({ kind: "temp" as never })],
      ["name", () => globalToken({ name: "" })],
      ["name", () => globalToken({ name: "x".repeat(101) })],
      ["name", () => globalToken({ name: "   " })],
      ["name", () => globalToken({ name: "a\nb" })],
      ["hash", () => globalToken({ hash: "abc" })],
      ["hash", () => globalToken({ hash: "A".repeat(64) })],
      ["user_id", () => globalToken({ user_id: null })],
      ["user_id", () => mcpToken({ user_id: "no spaces" })],
      ["user_id", () => globalToken({ user_id: "a/b" })],
      ["user_id", () => globalToken({ user_id: "u".repeat(256) })],
      ["user_id", () => projectToken({ user_id: "alice" })],
      ["project_id", () => projectToken({ project_id: null })],
      ["project_id", () => globalToken({ project_id: "proj-1" })],
      ["scopes", () => globalToken({ scopes: [] })],
      ["scopes", () => globalToken({ scopes: ["read", "read"] })],
      ["scopes[1]", () => globalToken({ scopes: ["read", "admin" as never] })],
      ["scopes", () => mcpToken({ scopes: ["read"] })],
      ["scopes", () => globalToken({ scopes: "read" as never })],
      ["grants", () => globalToken({ grants: [{ project_id: "p", expires_at: null, allow_trigger: false }] })],
      ["grants[0].project_id", () => mcpToken({ grants: [{ project_id: "-p", expires_at: null, allow_trigger: false }] })],
      ["grants[1].project_id", () => mcpToken({ grants: [{ project_id: "p", expires_at: null, allow_trigger: false }, { project_id: "p", expires_at: null, allow_trigger: true }] })],
      ["grants[0].expires_at", () => mcpToken({ grants: [{ project_id: "p", expires_at: "2030-01-01" as never, allow_trigger: false }] })],
      ["grants[0].allow_trigger", () => mcpToken({ grants: [{ project_id: "p", expires_at: null, allow_trigger: "yes" as never }] })],
      ["grants[0].extra", () => mcpToken({ grants: [{ project_id: "p", expires_at: null, allow_trigger: false, extra: 1 } as never] })],
      ["created_at", () => globalToken({ created_at: "2030-01-01" as never })],
      ["expires_at", () => globalToken({ expires_at: new Date("nope") })],
      ["revoked_at", () => globalToken({ revoked_at: 0 as never })],
      ["last_used_at", () => globalToken({ last_used_at: undefined as never })],
      ["extra", () => ({ ...globalToken(), extra: true })],
      ["revoked_at", () => {
        const { revoked_at: _omit, ...rest } = globalToken();
        return rest;
      }],
      ["record", () => null],
    ];
    it.each(invalid)("rejects an invalid record naming %s", async (field, make) => {
      const bad = make();
      await expectValidationError(store.create(bad as TokenRecord), field);
      const id = (bad as { id?: unknown } | null)?.id;
      if (typeof id === "string" && id !== "") expect(await store.get(id)).toBeNull();
    });

    it("rejects a duplicate id or hash and keeps the first record", async () => {
      const first = globalToken();
      await store.create(first);
      await expect(store.create(globalToken({ id: first.id }))).rejects.toBeInstanceOf(DuplicateError);
      await expect(store.create(globalToken({ hash: first.hash, name: "other" }))).rejects.toBeInstanceOf(DuplicateError);
      await expect(store.create(first)).rejects.toMatchObject({ code: "duplicate" });
      expect(await store.get(first.id)).toEqual(first);
      expect(await store.listByUser("alice")).toHaveLength(1);
    });

    it("copies on write and on read (no aliasing)", async () => {
      const r = mcpToken();
      const original = structuredClone(r);
      await store.create(r);
      r.name = "mutated";
      r.grants[0]!.allow_trigger = false;
      r.grants.push({ project_id: "evil", expires_at: null, allow_trigger: true });
      r.created_at.setTime(0);
      expect(await store.get(original.id)).toEqual(original);

      const read = (await store.get(original.id))!;
      read.name = "mutated";
      read.grants.pop();
      read.created_at.setTime(0);
      read.scopes.push("write");
      expect(await store.findByHash(original.hash)).toEqual(original);

      const listed = await store.listByUser("alice");
      listed[0]!.grants.length = 0;
      expect(await store.get(original.id)).toEqual(original);

      const updated = (await store.update(original.id, { name: "renamed" }))!;
      updated.grants.length = 0;
      expect((await store.get(original.id))!.grants).toEqual(original.grants);

      const grants = [{ project_id: "p9", expires_at: at(5), allow_trigger: true }];
      await store.update(original.id, { grants });
      grants[0]!.allow_trigger = false;
      grants[0]!.expires_at.setTime(0);
      expect((await store.get(original.id))!.grants).toEqual([{ project_id: "p9", expires_at: at(5), allow_trigger: true }]);
    });

    it("lists a user's tokens newest first, ties by id", async () => {
      const a = globalToken({ id: "tok_a", created_at: at(1_000) });
      const b = mcpToken({ id: "tok_b", created_at: at(3_000) });
      const c = globalToken({ id: "tok_c", created_at: at(2_000) });
      const d1 = globalToken({ id: "tok_d1", created_at: at(2_000) });
      const bob = globalToken({ id: "tok_bob", user_id: "bob", created_at: at(5_000) });
      const proj = projectToken({ id: "tok_p", created_at: at(9_000) });
      for (const r of [a, bob, c, proj, b, d1]) await store.create(r);
      expect((await store.listByUser("alice")).map((r) => r.id)).toEqual(["tok_b", "tok_c", "tok_d1", "tok_a"]);
      expect(await store.listByUser("bob")).toEqual([bob]);
      expect(await store.listByUser("carol")).toEqual([]);
      const provider = globalToken({ id: "tok_auth0", user_id: "auth0|abc123", created_at: at(6_000) });
      await store.create(provider);
      expect(await store.listByUser("auth0|abc123")).toEqual([provider]);
      // Revoked and expired tokens are listed too.
      await store.revoke("tok_a", at(10));
      expect((await store.listByUser("alice")).at(-1)?.revoked_at).toEqual(at(10));
    });

    it("updates name and grants, validating the patched record", async () => {
      const m = mcpToken();
      const g = globalToken();
      await store.create(m);
      await store.create(g);

      const renamed = await store.update(m.id, { name: "renamed" });
      expect(renamed).toEqual({ ...m, name: "renamed" });
      const grants = [{ project_id: "proj-3", expires_at: null, allow_trigger: true }];
      expect(await store.update(m.id, { grants })).toEqual({ ...m, name: "renamed", grants });
      expect(await store.update(m.id, { grants: [] })).toEqual({ ...m, name: "renamed", grants: [] });
      expect(await store.get(m.id)).toEqual({ ...m, name: "renamed", grants: [] });
      expect(await store.update(m.id, {})).toEqual({ ...m, name: "renamed", grants: [] });

      await expectValidationError(store.update(g.id, { grants }), "grants");
      await expectValidationError(store.update(g.id, { name: "" }), "name");
      await expectValidationError(store.update(m.id, { grants: [{ project_id: "p", expires_at: null, allow_trigger: 1 as never }] }), "grants[0].allow_trigger");
      await expectValidationError(store.update(m.id, { hash: "0".repeat(64) } as never), "hash");
      await expectValidationError(store.update(m.id, { name: "ok", scopes: ["read"] } as never), "scopes");
      await expectValidationError(store.update(m.id, null as never), "patch");
      expect(await store.get(g.id)).toEqual(g);

      expect(await store.update("tok_absent", { name: "x" })).toBeNull();
      await expectValidationError(store.update("tok_absent", { name: "" }), "name");
    });

    it("revokes idempotently, keeping the first revoked_at", async () => {
      const r = globalToken();
      await store.create(r);
      expect(await store.revoke("tok_absent", at(1))).toBe(false);
      expect(await store.revoke(r.id, at(1))).toBe(true);
      expect(await store.revoke(r.id, at(2))).toBe(true);
      expect((await store.get(r.id))!.revoked_at).toEqual(at(1));
      // Still found by hash: the caller decides what revoked means.
      expect((await store.findByHash(r.hash))!.revoked_at).toEqual(at(1));
      await expectValidationError(store.revoke(r.id, new Date("x")), "at");
    });

    it("touch sets last_used_at, never backwards, and ignores absent ids", async () => {
      const r = globalToken();
      await store.create(r);
      await store.touch(r.id, at(500));
      expect((await store.get(r.id))!.last_used_at).toEqual(at(500));
      await store.touch(r.id, at(100));
      expect((await store.get(r.id))!.last_used_at).toEqual(at(500));
      await store.touch(r.id, at(900));
      expect((await store.get(r.id))!.last_used_at).toEqual(at(900));
      await expect(store.touch("tok_absent", at(1))).resolves.toBeUndefined();
      await expectValidationError(store.touch(r.id, "now" as never), "at");
      expect((await store.get(r.id))!).toEqual({ ...r, last_used_at: at(900) });
    });
  });
}
