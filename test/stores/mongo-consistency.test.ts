// On a replica set, a fact read from a secondary can be behind: a revoked token or a removed
// collaborator still there. Every store reads its facts from the primary and writes with
// w: majority, whatever the connection string says (collection options win over the URI's).
import { MongoClient, type Db } from "mongodb";
import { describe, expect, it } from "vitest";
import { MongoBrowserSessionStore } from "../../src/stores/mongo/browser-session-store.js";
import { MongoDirectoryStore } from "../../src/stores/mongo/directory-store.js";
import { MongoOAuthStore } from "../../src/stores/mongo/oauth-store.js";
import { COLLECTIONS } from "../../src/stores/mongo/schema.js";
import { MongoTempTokenStore } from "../../src/stores/mongo/temp-token-store.js";
import { MongoTokenStore } from "../../src/stores/mongo/token-store.js";
import { MongoUpstreamTokenStore } from "../../src/stores/mongo/upstream-token-store.js";
import { AesGcmSecretCipher } from "../../src/upstreams/encryption.js";

describe("MongoDB read preference and write concern of the fact stores", () => {
  it("every fact collection reads from the primary and writes with w: majority, over a URI asking otherwise", async () => {
    // Never connected: collections are configured, not used.
    const client = new MongoClient("mongodb://127.0.0.1:1/?readPreference=secondaryPreferred&w=1&replicaSet=rs0");
    const db = client.db("consistency");
    const opened = new Map<string, { readPreference: string; w: unknown }>();
    const recording = new Proxy(db, {
      get(target, property, receiver) {
        if (property !== "collection") return Reflect.get(target, property, receiver);
        return (name: string, options?: object) => {
          const collection = target.collection(name, options);
          opened.set(name, { readPreference: collection.readPreference!.mode, w: collection.writeConcern?.w });
          return collection;
        };
      },
    }) as Db;
    new MongoTokenStore(recording);
    new MongoDirectoryStore(recording);
    new MongoTempTokenStore(recording);
    new MongoBrowserSessionStore(recording);
    new MongoOAuthStore(recording);
    new MongoUpstreamTokenStore(recording, new AesGcmSecretCipher([{ kid: "k", key: Buffer.alloc(32) }]));
    expect(new Set(opened.keys())).toEqual(new Set(Object.values(COLLECTIONS)));
    for (const [name, settings] of opened) expect({ name, ...settings }).toEqual({ name, readPreference: "primary", w: "majority" });
    await client.close();
  });
});
