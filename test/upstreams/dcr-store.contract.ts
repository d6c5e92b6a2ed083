// The DCR credential store contract (issue 12 §2), run against every backend by its own test file.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DcrCredentialsInvalidError, DcrCredentialsNotFoundError, type DcrCredentialStore, type DcrCredentials, type DcrKey } from "../../src/upstreams/dcr-credentials.js";
import { scopesHash } from "../../src/upstreams/scopes-hash.js";
import { sleep, type Fixture, type FixtureFactory } from "../support/fixtures.js";

export function dcrKey(n: number | string, scopes: string[] = ["mcp:read", "offline_access"]): DcrKey {
  return { issuer: `https://as${n}.example.com`, redirectUri: "https://tollgate.example.com/oauth/upstream/callback", scopesHash: scopesHash(scopes) };
}

export function dcrCredentials(key: DcrKey, overrides: Partial<DcrCredentials> = {}): DcrCredentials {
  return {
    key,
    providerName: "wiki",
    clientId: "client-1",
    clientSecret: "s3cret-value",
    tokenEndpointAuthMethod: "client_secret_basic",
    registrationAccessToken: "rat-value",
    registrationClientUri: `${key.issuer}/reg/client-1`,
    authorizationEndpoint: `${key.issuer}/authorize`,
    tokenEndpoint: `${key.issuer}/token`,
    createdAt: 1_900_000_000_123,
    clientSecretExpiresAt: 0,
    ...overrides,
  };
}

/** Epoch seconds at which a secret expires so the store keeps it about `keepMs` from now. */
export const expiringIn = (keepMs: number): number => Math.ceil((Date.now() + 60_000 + keepMs) / 1000);

async function invalidProblems(p: Promise<unknown>): Promise<string[]> {
  const err = await p.then(
    () => expect.unreachable("expected DcrCredentialsInvalidError"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DcrCredentialsInvalidError);
  return [...(err as DcrCredentialsInvalidError).problems];
}

async function isMissing(store: DcrCredentialStore, key: DcrKey): Promise<boolean> {
  return store.get(key).then(
    () => false,
    (e: unknown) => {
      if (e instanceof DcrCredentialsNotFoundError) return true;
      throw e;
    },
  );
}

export function describeDcrStoreContract(name: string, factory: FixtureFactory<DcrCredentialStore>): void {
  describe(`DcrCredentialStore contract: ${name}`, () => {
    let fx: Fixture<DcrCredentialStore>;
    let store: DcrCredentialStore;
    beforeEach(async () => {
      fx = await factory();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup?.();
    });

    it("gives back what was put, every field", async () => {
      const c = dcrCredentials(dcrKey(1));
      await store.put(c);
      expect(await store.get(dcrKey(1))).toEqual(c);
      const minimal: DcrCredentials = { key: dcrKey(2), providerName: "", clientId: "public-client", tokenEndpointAuthMethod: "none", authorizationEndpoint: "https://as2.example.com/a", tokenEndpoint: "https://as2.example.com/t", createdAt: 0 };
      await store.put(minimal);
      expect(await store.get(dcrKey(2))).toStrictEqual(minimal);
    });

    it("answers a miss with the typed not-found error naming the key", async () => {
      const err = await store.get(dcrKey("none")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DcrCredentialsNotFoundError);
      expect((err as DcrCredentialsNotFoundError).key).toEqual(dcrKey("none"));
    });

    it("keeps registrations apart by issuer, redirect URI and scopes (in any order and repetition)", async () => {
      const base = dcrKey(1);
      const others: DcrKey[] = [
        { ...base, issuer: "https://as1.example.com/tenant" },
        { ...base, redirectUri: `${base.redirectUri}2` },
        { ...base, scopesHash: scopesHash(["mcp:read"]) },
      ];
      await store.put(dcrCredentials(base, { clientId: "base" }));
      for (const [i, key] of others.entries()) await store.put(dcrCredentials(key, { clientId: `other-${i}` }));
      expect((await store.get({ ...base, scopesHash: scopesHash(["offline_access", "mcp:read", "mcp:read"]) })).clientId).toBe("base");
      for (const [i, key] of others.entries()) expect((await store.get(key)).clientId).toBe(`other-${i}`);
    });

    it("rejects at the boundary every required field that is empty, all at once, and stores nothing", async () => {
      const key = { issuer: "", redirectUri: " ", scopesHash: "" };
      const bad = dcrCredentials(key as DcrKey, { clientId: "", authorizationEndpoint: "", tokenEndpoint: "" });
      const problems = await invalidProblems(store.put(bad));
      for (const field of ["key.issuer", "key.redirectUri", "key.scopesHash", "clientId", "authorizationEndpoint", "tokenEndpoint"]) {
        expect(problems.some((p) => p.startsWith(`${field}:`)), field).toBe(true);
      }
      expect(await isMissing(store, dcrKey(1))).toBe(true);
    });

    it("rejects anything else malformed with a clear error that never quotes a value", async () => {
      const key = dcrKey(1);
      const cases: [string, unknown][] = [
        ["unknown field", { ...dcrCredentials(key), extra: "x" }],
        ["missing field", { ...dcrCredentials(key), tokenEndpoint: undefined }],
        ["secret of the wrong type", dcrCredentials(key, { clientSecret: 42 as never })],
        ["empty secret", dcrCredentials(key, { clientSecret: "" })],
        ["negative expiry", dcrCredentials(key, { clientSecretExpiresAt: -1 })],
        ["fractional createdAt", dcrCredentials(key, { createdAt: 1.5 })],
        ["no key", { ...dcrCredentials(key), key: null }],
        ["not an object", "credentials"],
      ];
      for (const [what, value] of cases) {
        const problems = await invalidProblems(store.put(value as DcrCredentials));
        expect(problems.length, what).toBeGreaterThan(0);
        expect(problems.join(" "), what).not.toContain("s3cret-value");
      }
      await invalidProblems(store.get({ issuer: "", redirectUri: "r", scopesHash: "h" }));
      await invalidProblems(store.get({ ...key, extra: 1 } as DcrKey));
      expect(await isMissing(store, key)).toBe(true);
    });

    it("copies on write and on read", async () => {
      const c = dcrCredentials(dcrKey(1)) as { -readonly [K in keyof DcrCredentials]: DcrCredentials[K] } & { key: { issuer: string } };
      await store.put(c);
      c.clientId = "changed-after-put";
      c.key.issuer = "https://elsewhere.example.com";
      const read = (await store.get(dcrKey(1))) as typeof c;
      expect(read.clientId).toBe("client-1");
      read.clientSecret = "changed-after-get";
      read.key.issuer = "https://elsewhere.example.com";
      expect(await store.get(dcrKey(1))).toEqual(dcrCredentials(dcrKey(1)));
    });

    it("replaces on overwrite, optional fields included", async () => {
      const key = dcrKey(1);
      await store.put(dcrCredentials(key));
      const replacement: DcrCredentials = { key, providerName: "wiki", clientId: "client-2", tokenEndpointAuthMethod: "none", authorizationEndpoint: `${key.issuer}/a2`, tokenEndpoint: `${key.issuer}/t2`, createdAt: 5 };
      await store.put(replacement);
      expect(await store.get(key)).toStrictEqual(replacement);
    });

    it("keeps 16 workers × 200 operations over overlapping and disjoint keys consistent", async () => {
      const WORKERS = 16;
      const OPS = 200;
      const SHARED = 4;
      // A registration whose fields all derive from its writer and sequence number: a torn or
      // mixed-up value shows as fields that disagree.
      const value = (key: DcrKey, writer: string) => dcrCredentials(key, { clientId: writer, clientSecret: `secret-${writer}`, registrationAccessToken: `rat-${writer}`, tokenEndpoint: `${key.issuer}/token/${writer}` });
      const consistent = (key: DcrKey, got: DcrCredentials) => {
        expect(got.key).toEqual(key);
        expect(got).toEqual(value(key, got.clientId));
      };
      const lastOwn = new Map<number, string>();
      await Promise.all(
        Array.from({ length: WORKERS }, async (_, w) => {
          const own = dcrKey(`own-${w}`);
          for (let i = 0; i < OPS; i++) {
            const writer = `w${w}-${i}`;
            if (i % 2 === 0) {
              const j = i / 2;
              const shared = dcrKey(`shared-${j % SHARED}`);
              // Rounds of SHARED operations, alternately writing and reading every shared key.
              if (Math.floor(j / SHARED) % 2 === 0) await store.put(value(shared, writer));
              else {
                const got = await store.get(shared).catch((e: unknown) => (e instanceof DcrCredentialsNotFoundError ? null : Promise.reject(e)));
                if (got) consistent(shared, got);
              }
            } else {
              await store.put(value(own, writer));
              lastOwn.set(w, writer);
              expect(await store.get(own)).toEqual(value(own, writer)); // nobody else writes it
            }
          }
        }),
      );
      for (let w = 0; w < WORKERS; w++) expect(await store.get(dcrKey(`own-${w}`))).toEqual(value(dcrKey(`own-${w}`), lastOwn.get(w)!));
      for (let s = 0; s < SHARED; s++) consistent(dcrKey(`shared-${s}`), await store.get(dcrKey(`shared-${s}`)));
    });

    it("keeps a secret that never expires (0 or absent)", async () => {
      await store.put(dcrCredentials(dcrKey(1), { clientSecretExpiresAt: 0 }));
      const { clientSecretExpiresAt: _, ...noExpiry } = dcrCredentials(dcrKey(2));
      await store.put(noExpiry);
      expect((await store.get(dcrKey(1))).clientId).toBe("client-1");
      expect((await store.get(dcrKey(2))).clientId).toBe("client-1");
    });

    it("forgets a registration 60 s before its secret expires", async () => {
      const expiresAt = expiringIn(1_500);
      await store.put(dcrCredentials(dcrKey(1), { clientSecretExpiresAt: expiresAt }));
      await store.put(dcrCredentials(dcrKey(2), { clientSecretExpiresAt: expiringIn(3_600_000) }));
      const deadline = Date.now() + 60_000;
      while (!(await isMissing(store, dcrKey(1)))) {
        expect(Date.now(), "still there long after its expiry").toBeLessThan(deadline);
        await sleep(100);
      }
      expect(Date.now()).toBeGreaterThanOrEqual(expiresAt * 1000 - 60_000);
      expect((await store.get(dcrKey(2))).clientSecretExpiresAt).toBeGreaterThan(0);
    });

    it("deletes on a put whose secret is already within the margin", async () => {
      const key = dcrKey(1);
      await store.put(dcrCredentials(key));
      await store.put(dcrCredentials(key, { clientSecretExpiresAt: Math.floor(Date.now() / 1000) + 30 }));
      expect(await isMissing(store, key)).toBe(true);
      await store.put(dcrCredentials(key, { clientSecretExpiresAt: 1 }));
      expect(await isMissing(store, key)).toBe(true);
    });
  });
}
