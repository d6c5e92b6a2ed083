// The one writer of error bodies and challenges, on a bare node:http server (no Express): known
// errors answer as the catalogue says, anything else as a generic 500 whose details reach only
// the log; nothing internal ever reaches the body or a header.
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { bearerChallenge, writeCaught, writeDenial, writeError, writeOpaError } from "../../src/api/error-writer.js";
import { ERRORS, RequestError } from "../../src/errors.js";
import { BackendUnavailableError, DuplicateError, NotFoundError, StoreValidationError } from "../../src/stores/types.js";

const SECRET = "mongodb://root:hunter2@db.internal:27017";
const logged: string[] = [];
const logger = pino({ level: "debug" }, { write: (line: string) => void logged.push(line) });

/** The next request's answer is written by this function. */
let respond: (res: ServerResponse) => void = () => {};
let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((_req, res) => respond(res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function answer(write: (res: ServerResponse) => void) {
  respond = write;
  const res = await fetch(`${base}/x`);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: JSON.parse(text) as Record<string, unknown> };
}

const caught = (err: unknown) => answer((res) => writeCaught(res, err, logger, { method: "GET", path: "/x" }));

describe("writeError", () => {
  it("writes every catalogue code with its status and message, as JSON with a length", async () => {
    for (const [code, { status, message }] of Object.entries(ERRORS)) {
      const res = await answer((r) => writeError(r, { code: code as keyof typeof ERRORS }));
      expect(res.status, code).toBe(status);
      expect(res.body, code).toEqual({ error: { code, message } });
      expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(Number(res.headers.get("content-length"))).toBe(Buffer.byteLength(res.text));
    }
  });

  it("adds the field, the decision id, Retry-After and the challenge when given", async () => {
    const res = await answer((r) =>
      writeError(r, {
        code: "invalid_token",
        message: "temp_token is unknown",
        field: "temp_token",
        decisionId: "d-1",
        retryAfterS: 2.2,
        challenge: { realm: "tollgate-admin", says: { error: "invalid_token", reason: "expired_token" } },
      }),
    );
    expect(res.status).toBe(401);
    expect(res.text).toBe('{"error":{"code":"invalid_token","message":"temp_token is unknown","field":"temp_token"},"decision_id":"d-1"}');
    expect(res.headers.get("retry-after")).toBe("3");
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="tollgate-admin", error="invalid_token", error_description="the access token has expired"');
  });

  it("writes OPA's shape for the Data API", async () => {
    const res = await answer((r) => writeOpaError(r, "invalid_parameter", "input.path: required"));
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ code: "invalid_parameter", message: "input.path: required" });
  });
});

describe("bearerChallenge (RFC 6750 §3)", () => {
  it("formats the three kinds of challenge from fixed texts", () => {
    expect(bearerChallenge("tollgate", { error: null })).toBe('Bearer realm="tollgate"');
    expect(bearerChallenge("tollgate", { error: "invalid_token", reason: "revoked_token" })).toBe(
      'Bearer realm="tollgate", error="invalid_token", error_description="the access token was revoked"',
    );
    expect(bearerChallenge("tollgate", { error: "insufficient_scope", scope: "write" })).toBe('Bearer realm="tollgate", error="insufficient_scope", scope="write"');
  });
});

describe("writeDenial", () => {
  it("answers a denial with its status, first reason as code, and the challenge it calls for", async () => {
    const expired = await answer((r) => writeDenial(r, { status: 401, reasons: ["expired_token"], access: "read", decision_id: "d-2" }));
    expect(expired.status).toBe(401);
    expect(expired.body).toEqual({
      error: { code: "expired_token", message: "authentication required: send a valid bearer token", reasons: ["expired_token"] },
      decision_id: "d-2",
    });
    expect(expired.headers.get("www-authenticate")).toBe('Bearer realm="tollgate", error="invalid_token", error_description="the access token has expired"');

    const scope = await answer((r) => writeDenial(r, { status: 403, reasons: ["insufficient_scope"], access: "write", decision_id: "d-3" }));
    expect(scope.headers.get("www-authenticate")).toBe('Bearer realm="tollgate", error="insufficient_scope", scope="write"');

    const role = await answer((r) => writeDenial(r, { status: 403, reasons: ["insufficient_role"], access: "write", decision_id: "d-4" }));
    expect(role.headers.get("www-authenticate")).toBeNull();
    expect((role.body.error as { message: string }).message).toBe("denied: insufficient_role");
  });
});

describe("writeCaught", () => {
  it("answers Tollgate's own and the stores' errors as the catalogue says", async () => {
    const zodError = z.object({ name: z.string() }).safeParse({ name: 1 }).error!;
    const cases: Array<[unknown, number, Record<string, unknown>]> = [
      [new RequestError("unknown_project", 'project_id: no project "x"', "project_id"), 400, { code: "unknown_project", message: 'project_id: no project "x"', field: "project_id" }],
      [new RequestError("not_found"), 404, { code: "not_found", message: "no such endpoint" }],
      [zodError, 400, { code: "invalid_request", message: expect.stringMatching(/^name: /), field: "name" }],
      [new StoreValidationError("grants[0].project_id", "must be an id"), 400, { code: "invalid_request", message: "invalid grants[0].project_id: must be an id", field: "grants[0].project_id" }],
      [new NotFoundError("token", "t1"), 404, { code: "not_found", message: "token not found: t1" }],
      [new DuplicateError("token", "hash"), 409, { code: "conflict", message: "token with this hash already exists", field: "hash" }],
      [new URIError("URI malformed"), 400, { code: "invalid_request", message: "a path segment is not valid percent-encoding" }],
    ];
    for (const [err, status, error] of cases) {
      const res = await caught(err);
      expect(res.status, String(err)).toBe(status);
      expect(res.body).toEqual({ error });
    }
  });

  it("never writes internal text: unknown errors are a bare 500 and an unavailable backend a bare 503, details in the log only", async () => {
    const internals: unknown[] = [
      new Error(SECRET),
      new TypeError(`Cannot read properties of undefined (reading '${SECRET}')`),
      Object.assign(new Error("boom"), { code: SECRET, status: 400, type: SECRET }),
      SECRET,
      { message: SECRET },
      null,
      undefined,
    ];
    for (const err of internals) {
      logged.length = 0;
      const res = await caught(err);
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ error: { code: "internal_error", message: "internal error" } });
      expect(logged.join("")).toContain("unhandled error");
    }
    logged.length = 0;
    const down = await caught(new BackendUnavailableError("mongodb", new Error(`connect ECONNREFUSED ${SECRET}`)));
    expect(down.status).toBe(503);
    expect(down.body).toEqual({ error: { code: "backend_unavailable", message: "a backend Tollgate needs is unavailable; try again" } });
    expect(down.text).not.toContain("hunter2");
    expect([...down.headers.values()].join(" ")).not.toContain("hunter2");
    expect(logged.join("")).toContain("hunter2");
  });

  it("cuts the connection when the head has already gone out", async () => {
    respond = (res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("partial");
      writeCaught(res, new Error(SECRET), logger, { path: "/x" });
    };
    await expect(fetch(`${base}/x`).then((res) => res.text())).rejects.toThrow();
  });
});
