// Red-team cases for the node:http dispatcher and what it hands on (the gateway's local routes,
// the decision endpoints): every allowed request leaves its audit record, whatever the client does.
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../src/audit/types.js";
import { deferred, startGateway, startUpstream, waitFor, type Gateway, type Upstream } from "../gateway/helpers.js";

let upstream: Upstream;
let gw: Gateway;
let bob: string;
beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url });
  bob = await gw.world.session("bob");
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

let open = -1;
/** The gateway server's open connections, as last counted (polled by waitFor). */
function connections(): number {
  gw.server.getConnections((_err, count) => (open = count));
  return open;
}

async function gatewayRecords(): Promise<AuditRecord[]> {
  const audit = gw.world.tollgate.backends.audit;
  await audit.flush();
  return (await audit.query({ limit: 100 })).records.filter((r) => r.source === "gateway");
}

describe("the gateway's local routes (MCP token self-service)", () => {
  // The record was written on the response's `finish`, which never comes when the client goes
  // away first: the route still acted (here: issued a temp token), and nothing was audited.
  it("an allowed request whose client went away before the answer still leaves its record", async () => {
    const tempTokens = gw.world.tollgate.backends.tempTokens;
    const create = tempTokens.create.bind(tempTokens);
    const slow = deferred();
    let acting = false;
    let issued = false;
    tempTokens.create = async (...args) => {
      acting = true;
      await slow.promise; // a slow backend: the client gives up meanwhile
      const result = await create(...args);
      issued = result.created;
      return result;
    };
    try {
      const before = (await gatewayRecords()).length;
      const socket = connect(gw.port, "127.0.0.1");
      socket.on("error", () => undefined);
      await new Promise((resolve) => socket.once("connect", resolve));
      socket.write(`POST /api/v1/mcp/tokens/temp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bob}\r\nContent-Length: 0\r\n\r\n`);
      expect(await waitFor(() => acting)).toBe(true);
      socket.destroy();
      expect(await waitFor(() => connections() === 0)).toBe(true); // the server saw the client go
      slow.resolve();
      expect(await waitFor(() => issued)).toBe(true);
      const records = await gatewayRecords();
      expect(records.length - before).toBe(1);
      expect(records[0]).toMatchObject({ method: "POST", path: "/api/v1/mcp/tokens/temp", allow: true, user_id: "bob" });
    } finally {
      tempTokens.create = create;
    }
  });
});
