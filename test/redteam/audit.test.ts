// Red-team cases for the audit trail: every decision leaves its record, whatever odd request
// target it was about (a dropped record is a probe nobody sees).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../src/audit/types.js";
import { rawRequest, send, startGateway, type Gateway } from "../gateway/helpers.js";

let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({});
});
afterAll(async () => {
  await gw?.close();
});

async function recordOf(decisionId: string): Promise<AuditRecord | undefined> {
  const audit = gw.world.tollgate.backends.audit;
  await audit.flush();
  return (await audit.query({ limit: 100 })).records.find((r) => r.decision_id === decisionId);
}

describe("odd targets are audited, not dropped", () => {
  const targets = ["/api/v1/projects/pub/builds\u0007", "/api/v1/projects/\u0000/builds", "?token=secret", "#frag", "/api/v1/projects/pub/builds\u007f"];

  it("/v1/authorize: a target with control characters, or with nothing before its query, leaves a record (query still never stored)", async () => {
    for (const path of targets) {
      const res = await send(gw.url, "/v1/authorize", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ method: "GET", path }) });
      expect(res.status, JSON.stringify(path)).toBe(200);
      const record = await recordOf(res.json().decision_id);
      expect(record, JSON.stringify(path)).toBeDefined();
      expect(record!.path).not.toMatch(/secret|frag|[\u0000-\u001f\u007f]/);
    }
  });

  it("forward auth: a URI header with a tab inside leaves a record", async () => {
    const result = await rawRequest(gw.port, "GET /v1/forward-auth HTTP/1.1\r\nHost: x\r\nX-Original-Method: GET\r\nX-Original-URI: /api/v1/projects/pub/\tbuilds\r\nConnection: close\r\n\r\n", { expectResponses: 1 });
    const id = /x-tollgate-decision-id: ([0-9a-f-]+)/i.exec(result.text)?.[1];
    expect(id, result.text).toBeDefined();
    expect(await recordOf(id!)).toBeDefined();
  });
});
