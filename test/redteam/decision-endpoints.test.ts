// Red-team cases for the decision endpoints (/v1/authorize, OPA's Data API): bodies a client
// can send that once produced a 500, and what must keep holding.
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { send, startGateway, type Gateway } from "../gateway/helpers.js";
import { ADMIN_TOKEN, bearer, type World } from "../http/fixture.js";

let gw: Gateway;
let world: World;
beforeAll(async () => {
  gw = await startGateway({});
  world = gw.world;
});
afterAll(async () => {
  await gw?.close();
});

const PUBLIC_READ = { method: "GET", path: "/api/v1/projects/pub/builds" };
/** A JSON POST over a real socket (the body's bytes exactly as given). */
const post = async (path: string, body: string | Buffer, headers: Record<string, string> = {}) => {
  const res = await send(gw.url, path, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
  return { status: res.status, body: res.body === "" ? {} : res.json() };
};

describe("Content-Encoding on JSON bodies", () => {
  it("a body that does not decode as its Content-Encoding is a 400, never a 500", async () => {
    for (const encoding of ["gzip", "deflate", "br"]) {
      const authorize = await post("/v1/authorize", JSON.stringify(PUBLIC_READ), { "Content-Encoding": encoding });
      expect(authorize.status, encoding).toBe(400);
      expect(authorize.body.error.code).toBe("malformed_json");
      const admin = await post("/v1/admin/tokens", "{}", { "Content-Encoding": encoding, Authorization: bearer(ADMIN_TOKEN) });
      expect(admin.status, encoding).toBe(400);
      const data = await post("/v1/data/tollgate/authz/decision", JSON.stringify({ input: PUBLIC_READ }), { "Content-Encoding": encoding });
      expect(data.status, encoding).toBe(400);
      expect(data.body.code).toBe("invalid_parameter");
    }
  });

  it("a correctly gzipped body is decided", async () => {
    const res = await post("/v1/authorize", gzipSync(JSON.stringify(PUBLIC_READ)), { "Content-Encoding": "gzip" });
    expect(res.status).toBe(200);
    expect(res.body.allow).toBe(true);
  });

  it("an unknown or stacked encoding is 415", async () => {
    for (const encoding of ["x-gzip", "deflate, gzip", "zstd"]) {
      const res = await post("/v1/authorize", JSON.stringify(PUBLIC_READ), { "Content-Encoding": encoding });
      expect(res.status, encoding).toBe(415);
    }
  });
});

describe("strings that are not well-formed Unicode", () => {
  // A lone surrogate survives JSON.parse but not the policy's input: it made the decision a 500.
  const lone = ['"/api/v1/projects/pub/builds\\ud800"', '"/api/v1/projects/\\udc00/builds"', '"/api/v1/projects/pub/builds?q=\\ud83d"'];

  it("a path with a lone surrogate is refused as a malformed field, not decided as a policy error", async () => {
    for (const path of lone) {
      const res = await post("/v1/authorize", `{"method":"GET","path":${path}}`);
      expect(res.status, path).toBe(400);
      expect(res.body.error).toMatchObject({ code: "invalid_request", field: "path" });
      const data = await post("/v1/data/tollgate/authz/decision", `{"input":{"method":"GET","path":${path}}}`);
      expect(data.status, path).toBe(400);
      expect(data.body.code).toBe("invalid_parameter");
    }
  });

  it("a path with a well-formed astral character is decided (denied), not refused", async () => {
    const res = await post("/v1/authorize", '{"method":"GET","path":"/api/v1/projects/pub/builds/\\ud83d\\ude00"}');
    expect(res.status).toBe(200);
    expect(res.body.allow).toBe(false);
    expect(res.body.status).not.toBe(500);
  });

  it("an authorization value with a lone surrogate is an invalid token", async () => {
    const res = await post("/v1/authorize", '{"method":"GET","path":"/api/v1/projects/pub/builds","authorization":"Bearer \\ud800"}');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ allow: false, status: 401, reasons: ["invalid_token"] });
  });
});

describe("JSON tricks (pinned)", () => {
  it("duplicate keys: the last one counts, and it is what gets judged", async () => {
    const res = await post("/v1/authorize", '{"method":"GET","path":"/api/v1/projects/pub/builds","method":"DELETE"}');
    expect(res.status).toBe(200);
    expect(res.body.allow).toBe(false);
  });

  it("prototype keys are unknown fields of the strict body", async () => {
    for (const key of ["__proto__", "constructor"]) {
      const res = await post("/v1/authorize", `{"method":"GET","path":"/api/v1/projects/pub/builds","${key}":{"dry_run":true}}`);
      expect(res.status, key).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
    }
  });

  it("a credential hidden under __proto__ in the Data API's headers is not used", async () => {
    const jwt = await world.session("bob");
    const res = await post("/v1/data/tollgate/authz/decision", `{"input":{"method":"GET","path":"/api/v1/projects/priv/builds","headers":{"__proto__":{"authorization":"Bearer ${jwt}"}}}}`);
    expect(res.status === 400 || res.body.result?.allow === false).toBe(true);
  });

  it("nesting deeper than the body limit allows is 413, not a stack overflow", async () => {
    const res = await post("/v1/authorize", "[".repeat(200_000) + "]".repeat(200_000));
    expect(res.status).toBe(413);
  });
});

describe("OPA Data API paths", () => {
  const input = JSON.stringify({ input: PUBLIC_READ });

  it("document paths are case-sensitive, as in OPA: another spelling is an undefined document", async () => {
    for (const path of ["/v1/data/tollgate/authz/Decision", "/v1/data/Tollgate/authz/decision", "/v1/data/tollgate/authz/decision/ALLOW"]) {
      const res = await post(path, input);
      expect(res.status, path).toBe(200);
      expect(res.body, path).not.toHaveProperty("result");
    }
  });

  it("a path that is not valid percent-encoding is a 400 about the path, in OPA's shape", async () => {
    for (const path of ["/v1/data/tollgate/authz/decision/%zz", "/v1/data/%E0%A4%A"]) {
      const res = await post(path, input);
      expect(res.status, path).toBe(400);
      expect(res.body.code).toBe("invalid_parameter");
      expect(res.body.message, path).toMatch(/path/);
    }
  });

  it("fields and prototype names (pinned)", async () => {
    expect((await post("/v1/data/tollgate/authz/decision/allow", input)).body.result).toBe(true);
    for (const path of ["/v1/data/tollgate/authz/decision/subject/constructor", "/v1/data/tollgate/authz/decision/__proto__", "/v1/data/tollgate/authz/decision/reasons/length"]) {
      const res = await post(path, input);
      expect(res.status, path).toBe(200);
      expect(res.body, path).not.toHaveProperty("result");
    }
  });
});
