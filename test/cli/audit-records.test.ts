// The CLI's own writes leave audit records with source "cli", their action and target, on a real
// FerretDB, run in-process (the commands as program.ts calls them).
import { MongoClient, type Db } from "mongodb";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ensureAuditIndexes } from "../../src/audit/mongo/schema.js";
import { MongoAuditStore } from "../../src/audit/mongo/store.js";
import { removeCollaborator, setCollaborator } from "../../src/cli/collaborator.js";
import { createToken, revokeToken } from "../../src/cli/token.js";
import { failFastMongoOptions } from "../../src/stores/mongo/client.js";
import { MongoDirectoryStore } from "../../src/stores/mongo/directory-store.js";
import { startFerretDb, type MongoServer } from "../support/servers.js";

let server: MongoServer;
let client: MongoClient;
let db: Db;
const saved = { uri: process.env.MONGODB_URI, name: process.env.MONGODB_DB };

beforeAll(async () => {
  server = await startFerretDb();
  client = new MongoClient(server.uri, { ...failFastMongoOptions });
  db = client.db(server.dbName);
  await ensureAuditIndexes(db, 30);
  const directory = new MongoDirectoryStore(db);
  await directory.putProject({ id: "p1", name: "Project one", public: false });
  await directory.putUser({ id: "alice", system_role: "user" });
  process.env.MONGODB_URI = server.uri;
  process.env.MONGODB_DB = server.dbName;
}, 60_000);

afterAll(async () => {
  process.env.MONGODB_URI = saved.uri;
  process.env.MONGODB_DB = saved.name;
  if (saved.uri === undefined) delete process.env.MONGODB_URI;
  if (saved.name === undefined) delete process.env.MONGODB_DB;
  await client?.close();
  await server?.stop();
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the CLI's writes are audited", () => {
  it("collaborator set/remove and token create/revoke each leave a cli record", async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => (out.push(String(chunk)), true));
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    await setCollaborator("p1", "alice", "Developer", {});
    await createToken({ type: "global", user: "alice", json: true });
    const id = (JSON.parse(out.join("").slice(out.join("").indexOf("{"))) as { id: string }).id;
    await revokeToken(id, {});
    await removeCollaborator("p1", "alice", {});

    const page = await new MongoAuditStore(db).query({ source: "cli", limit: 10 });
    const records = [...page.records].reverse();
    expect(records.map((r) => [r.action, r.target, r.method, r.path, r.status])).toEqual([
      ["collaborator.set", "project:p1/collaborator:alice", "PUT", "/v1/admin/projects/p1/collaborators/alice", 200],
      ["token.issue", `token:${id}`, "POST", "/v1/admin/tokens", 201],
      ["token.revoke", `token:${id}`, "DELETE", `/v1/admin/tokens/${id}`, 200],
      ["collaborator.remove", "project:p1/collaborator:alice", "DELETE", "/v1/admin/projects/p1/collaborators/alice", 204],
    ]);
    for (const r of records) {
      expect(r).toMatchObject({ source: "cli", allow: true, reasons: [], subject_type: null, user_id: null, token_id: null, client_address: null, upstream_status: null });
    }
  }, 60_000);

  it("a refused change leaves no record", async () => {
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const before = (await new MongoAuditStore(db).query({ source: "cli", limit: 100 })).records.length;
    await expect(removeCollaborator("p1", "nobody", {})).rejects.toThrow(/not a collaborator/);
    await expect(revokeToken("tok_doesnotexist0000000", {})).rejects.toThrow(/no token/);
    expect((await new MongoAuditStore(db).query({ source: "cli", limit: 100 })).records).toHaveLength(before);
  }, 60_000);
});
