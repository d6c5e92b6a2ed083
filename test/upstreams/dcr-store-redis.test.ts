// The DCR credential store contract on a real redis-server, and what only Redis has: the key's
// expiry, and secrets sealed at rest.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisDcrCredentialStore } from "../../src/stores/redis/dcr-credential-store.js";
import { redisKeys } from "../../src/stores/redis/keys.js";
import { BackendUnavailableError } from "../../src/stores/types.js";
import { dcrKeyId } from "../../src/upstreams/dcr-validate.js";
import { AesGcmSecretCipher, SecretDecryptionError, type EncryptionKey } from "../../src/upstreams/encryption.js";
import { CLOSED_PORT, startRedis, type RedisServer } from "../support/servers.js";
import { dcrCredentials, dcrKey, describeDcrStoreContract, expiringIn } from "./dcr-store.contract.js";

let server: RedisServer;
let redis: Redis;
let counter = 0;
const keyA: EncryptionKey = { kid: "a", key: randomBytes(32) };
const keyB: EncryptionKey = { kid: "b", key: randomBytes(32) };
const cipher = new AesGcmSecretCipher([keyA]);

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

async function dropNamespace(namespace: string): Promise<void> {
  const keys = await redis.keys(`${namespace}:*`);
  if (keys.length > 0) await redis.del(...keys);
}

describeDcrStoreContract("redis", async () => {
  const namespace = `dcr${++counter}`;
  return { store: new RedisDcrCredentialStore(redis, cipher, { namespace }), cleanup: () => dropNamespace(namespace) };
});

describe("redis DCR credentials at rest", () => {
  const namespace = "dcrx";
  const keys = redisKeys(namespace);
  const redisKeyOf = (n: number) => keys.dcrCredentials(dcrKeyId(dcrKey(n)));

  it("keeps one key per registration under the namespace, its secrets sealed, no clear secret anywhere", async () => {
    const store = new RedisDcrCredentialStore(redis, cipher, { namespace });
    await store.put(dcrCredentials(dcrKey(1), { clientSecret: "clear-client-secret-1", registrationAccessToken: "clear-rat-1" }));
    expect(await redis.keys(`${namespace}:*`)).toEqual([redisKeyOf(1)]);
    const raw = (await redis.get(redisKeyOf(1)))!;
    expect(raw).not.toContain("clear-client-secret-1");
    expect(raw).not.toContain("clear-rat-1");
    const stored = JSON.parse(raw) as Record<string, string>;
    expect(stored.clientSecret).toMatch(/^v1\.a\./);
    expect(stored.registrationAccessToken).toMatch(/^v1\.a\./);
    expect(stored.clientId).toBe("client-1");
    await dropNamespace(namespace);
  });

  it("refuses a sealed secret moved to another registration or field", async () => {
    const store = new RedisDcrCredentialStore(redis, cipher, { namespace });
    await store.put(dcrCredentials(dcrKey(1)));
    await store.put(dcrCredentials(dcrKey(2)));
    const one = JSON.parse((await redis.get(redisKeyOf(1)))!) as Record<string, string>;
    const two = JSON.parse((await redis.get(redisKeyOf(2)))!) as Record<string, string>;
    await redis.set(redisKeyOf(2), JSON.stringify({ ...two, clientSecret: one.clientSecret }));
    await expect(store.get(dcrKey(2))).rejects.toBeInstanceOf(SecretDecryptionError);
    await redis.set(redisKeyOf(1), JSON.stringify({ ...one, clientSecret: one.registrationAccessToken }));
    await expect(store.get(dcrKey(1))).rejects.toBeInstanceOf(SecretDecryptionError);
    await dropNamespace(namespace);
  });

  it("reads what an older key sealed after rotation, and refuses a dropped key", async () => {
    await new RedisDcrCredentialStore(redis, cipher, { namespace }).put(dcrCredentials(dcrKey(1)));
    const rotated = new RedisDcrCredentialStore(redis, new AesGcmSecretCipher([keyB, keyA]), { namespace });
    expect((await rotated.get(dcrKey(1))).clientSecret).toBe("s3cret-value");
    await rotated.put(dcrCredentials(dcrKey(2)));
    expect((JSON.parse((await redis.get(redisKeyOf(2)))!) as Record<string, string>).clientSecret).toMatch(/^v1\.b\./);
    const dropped = new RedisDcrCredentialStore(redis, new AesGcmSecretCipher([keyB]), { namespace });
    await expect(dropped.get(dcrKey(1))).rejects.toThrow(/key "a", which is not in TOLLGATE_ENCRYPTION_KEYS/);
    await dropNamespace(namespace);
  });

  it("sets the key's TTL to clientSecretExpiresAt − now − 60 s, and none when it never expires", async () => {
    const store = new RedisDcrCredentialStore(redis, cipher, { namespace });
    const expiresAt = expiringIn(3_600_000);
    const before = Date.now();
    await store.put(dcrCredentials(dcrKey(1), { clientSecretExpiresAt: expiresAt }));
    const after = Date.now();
    const pttl = await redis.pttl(redisKeyOf(1));
    expect(pttl).toBeLessThanOrEqual(expiresAt * 1000 - 60_000 - before + 1);
    expect(pttl).toBeGreaterThan(expiresAt * 1000 - 60_000 - after - 5_000);
    await store.put(dcrCredentials(dcrKey(1), { clientSecretExpiresAt: 0 }));
    expect(await redis.pttl(redisKeyOf(1))).toBe(-1); // the overwrite removed the old expiry
    await dropNamespace(namespace);
  });

  it("fails a call with BackendUnavailableError when Redis is unreachable", async () => {
    const dead = new Redis(`redis://127.0.0.1:${CLOSED_PORT}`, { maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null });
    dead.on("error", () => {}); // the refused connection is the point
    const store = new RedisDcrCredentialStore(dead, cipher, { namespace });
    await expect(store.get(dcrKey(1))).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(store.put(dcrCredentials(dcrKey(1)))).rejects.toBeInstanceOf(BackendUnavailableError);
    dead.disconnect();
  });
});
