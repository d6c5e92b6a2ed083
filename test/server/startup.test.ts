// Start-up as the process runs it (src/main.ts): TOLLGATE_RATE_LIMITS checked against the policy's
// tool table is a configuration error, exit 2, reported as one (not as a policy that failed to load).
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { CLOSED_PORT } from "../support/servers.js";

function start(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", PORT: "0", HOST: "127.0.0.1", TOLLGATE_LOG_LEVEL: "silent", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stderr }));
  });
}

describe("start-up against the tool table", () => {
  it("refuses a TOLLGATE_RATE_LIMITS.mcp class the policy does not name: exit 2, the class named, no advice to rebuild the policy", async () => {
    const { code, stderr } = await start({ TOLLGATE_RATE_LIMITS: '{"mcp":{"typo":3}}' });
    expect(code).toBe(2);
    expect(stderr).toContain("TOLLGATE_RATE_LIMITS.mcp.typo");
    expect(stderr).not.toContain("make wasm");
  });
});

describe("start-up with TOLLGATE_WORKERS=2", () => {
  it("a worker's start-up error stops the replica with exit 2 instead of restarting the worker forever", async () => {
    const { code, stderr } = await start({
      TOLLGATE_WORKERS: "2",
      // Never reached: the error comes before any connection.
      MONGODB_URI: `mongodb://127.0.0.1:${CLOSED_PORT}`,
      REDIS_URL: `redis://127.0.0.1:${CLOSED_PORT}`,
      TOLLGATE_RATE_LIMITS: '{"mcp":{"typo":3}}',
    });
    expect(code).toBe(2);
    expect(stderr).toContain("TOLLGATE_RATE_LIMITS.mcp.typo");
  });
});
