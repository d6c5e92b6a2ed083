// Client ID Metadata Documents in Tollgate as the process runs (src/main.ts), configured only by
// its environment: TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS lets the loopback document server
// through, NODE_EXTRA_CA_CERTS makes its certificate trusted; without the CA the fetch fails
// on the certificate, and production refuses the switch at start-up.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { sleep } from "../gateway/helpers.js";
import { JWT_SECRET } from "../http/fixture.js";
import { testCa } from "../support/test-ca.js";
import { startDocumentServer, type DocumentServer } from "./document-server.js";
import { authorizePath, pkce, REDIRECT_URI } from "./support.js";

let docs: DocumentServer;
const children: ChildProcess[] = [];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function run(env: Record<string, string>): { child: ChildProcess; exited: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", HOST: "127.0.0.1", TOLLGATE_LOG_LEVEL: "silent", TOLLGATE_JWT_SECRET: JWT_SECRET, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.push(child);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on("exit", (code) => resolve({ code, stderr })));
  return { child, exited };
}

/** A development Tollgate that is its own authorization server, with the demo projects; its URL once ready. */
async function startTollgate(env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const { exited } = run({ PORT: String(port), TOLLGATE_DEMO: "true", TOLLGATE_PUBLIC_URL: url, TOLLGATE_MCP_AUTHORIZATION_SERVERS: url, ...env });
  let exit: { code: number | null; stderr: string } | undefined;
  void exited.then((e) => (exit = e));
  for (const deadline = Date.now() + 90_000; Date.now() < deadline; await sleep(200)) {
    if (exit) throw new Error(`tollgate exited ${exit.code}: ${exit.stderr}`);
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return url;
  }
  throw new Error("tollgate did not become ready");
}

/** The authorization server's first answer to this client_id. */
async function authorize(base: string, clientId: string): Promise<{ status: number; location: string | null; body: string }> {
  const res = await fetch(base + authorizePath({ client_id: clientId, resource: `${base}/api/v1/mcp/projects/demo-private/mcp`, code_challenge: pkce().challenge }), { redirect: "manual" });
  return { status: res.status, location: res.headers.get("location"), body: await res.text() };
}

function publish(path: string, patch: Record<string, unknown> = {}): string {
  const url = docs.url(path);
  docs.set(path, { headers: { "cache-control": "max-age=300" }, body: { client_id: url, client_name: "Process Agent", redirect_uris: [REDIRECT_URI], ...patch } });
  return url;
}

beforeAll(async () => {
  docs = await startDocumentServer();
});

afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
});

afterAll(async () => {
  await docs?.close();
});

describe("the process, configured by its environment", () => {
  it("with TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS and NODE_EXTRA_CA_CERTS: a good document is a client (on to consent), a document with a secret is invalid_client", async () => {
    const base = await startTollgate({ TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS: "true", NODE_EXTRA_CA_CERTS: testCa().caFile });
    const good = await authorize(base, publish("/process/good.json"));
    expect(good.status, good.body).toBe(303);
    expect(good.location).toMatch(/^\/ui\/consent\?uid=/);
    const secret = await authorize(base, publish("/process/secret.json", { client_secret: "x" }));
    expect(secret.status).toBe(400);
    expect(JSON.parse(secret.body)).toMatchObject({ error: "invalid_client", error_description: expect.stringMatching(/client_secret/) });
  });

  it("without the test CA the document server's certificate is not trusted: invalid_client", async () => {
    const base = await startTollgate({ TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS: "true" });
    const res = await authorize(base, publish("/process/untrusted.json"));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ error: "invalid_client", error_description: expect.stringMatching(/could not be reached over https/) });
  });

  it("refuses TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS=true in production: exit 2, the variable named", async () => {
    const { exited } = run({ PORT: "0", TOLLGATE_ENV: "production", TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS: "true" });
    const { code, stderr } = await exited;
    expect(code).toBe(2);
    expect(stderr).toContain("TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS=true is not allowed in production");
  });
});
