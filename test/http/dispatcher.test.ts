// Which requests the node:http dispatcher serves itself and which go to the Express app.
import type { IncomingMessage, ServerResponse } from "node:http";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { DecisionEndpoints } from "../../src/http/decision-endpoints.js";
import { dispatcher } from "../../src/http/dispatcher.js";
import type { Gateway } from "../../src/gateway/gateway.js";

function setup() {
  const served: string[] = [];
  const hot = (name: string) => Object.assign(async () => void served.push(name), { refused: () => served.push(`${name} refused`) });
  const decisions: DecisionEndpoints = { authorize: hot("authorize"), forwardAuth: hot("forward-auth"), extAuthz: hot("ext-authz"), dataApi: hot("data") };
  const gateway: Gateway = Object.assign(hot("gateway"), { local: () => served.push("local") });
  const listener = dispatcher({ decisions, gateway }, () => void served.push("express"), { maxHeaderFields: 100, logger: pino({ level: "silent" }) });
  const route = (method: string, url: string): string => {
    served.length = 0;
    listener({ method, url, rawHeaders: [], headers: {} } as unknown as IncomingMessage, {} as ServerResponse);
    return served[0] ?? "nothing";
  };
  return route;
}

describe("dispatcher", () => {
  const route = setup();
  it.each([
    ["POST", "/v1/authorize", "authorize"],
    ["POST", "/v1/Authorize/", "authorize"],
    ["POST", "/v1/authorize?x=1", "authorize"],
    ["GET", "/v1/authorize", "express"],
    ["GET", "/v1/forward-auth", "forward-auth"],
    ["HEAD", "/v1/forward-auth", "forward-auth"],
    ["POST", "/v1/forward-auth", "express"],
    ["DELETE", "/v1/ext-authz/api/v1/projects", "ext-authz"],
    ["GET", "/v1/ext-authzz", "express"],
    ["POST", "/v1/data/tollgate/authz/decision", "data"],
    ["GET", "/v1/data", "data"],
    ["PUT", "/v1/data/x", "express"],
    ["GET", "/api/v1/projects", "gateway"],
    ["GET", "/API", "gateway"],
    ["GET", "http://upstream/api/v1/projects", "gateway"],
    ["GET", "//api/v1/projects", "express"],
    ["GET", "/apix", "express"],
    ["GET", "/v1/admin/users", "express"],
    ["GET", "/readyz", "express"],
    ["OPTIONS", "*", "express"],
  ])("%s %s → %s", (method, url, expected) => {
    expect(route(method, url)).toBe(expected);
  });
});
