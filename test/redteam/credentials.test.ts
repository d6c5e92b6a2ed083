// Red-team pins for bearer parsing and session JWTs: every spelling that is not exactly one
// valid bearer credential is invalid_token (401), never anonymous, never another user.
import { createHmac } from "node:crypto";
import { base64url, SignJWT } from "jose";
import request from "supertest";
import { beforeAll, describe, expect, it } from "vitest";
import { buildWorld, JWT_SECRET, NOW, type World } from "../http/fixture.js";

let world: World;
let bob: string;
beforeAll(async () => {
  world = await buildWorld();
  bob = await world.session("bob");
});

const PRIVATE_READ = "/api/v1/projects/priv/builds";
const decide = async (authorization: string | null) =>
  (await request(world.tollgate.app).post("/v1/authorize").send({ method: "GET", path: PRIVATE_READ, authorization })).body as { allow: boolean; status: number; reasons: string[]; subject: { user_id: string } | null };

/** An HS256 JWT with exactly this header and payload JSON, signed with the test secret. */
function signed(header: string, payload: string, secret = JWT_SECRET): string {
  const input = `${base64url.encode(header)}.${base64url.encode(payload)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}
const claims = (extra = ""): string => `{"sub":"bob","iat":${NOW - 10},"exp":${NOW + 600}${extra}}`;

describe("the Authorization value", () => {
  it("the scheme in any case, with extra spaces around, is bob", async () => {
    for (const value of [`Bearer ${bob}`, `bearer ${bob}`, `BEARER ${bob}`, `Bearer   ${bob}`, `  Bearer ${bob}  `]) {
      const d = await decide(value);
      expect(d.allow, value.slice(0, 12)).toBe(true);
      expect(d.subject?.user_id).toBe("bob");
    }
  });

  it("anything else present is invalid_token", async () => {
    const cases = [
      `Bearer\t${bob}`,
      `Bearer ${bob} junk`,
      `Bearer ${bob}, Bearer ${bob}`,
      `Bearer ${bob},Basic Zm9vOmJhcg==`,
      `Basic ${Buffer.from("bob:pw").toString("base64")}`,
      `Token ${bob}`,
      `Bearer ${bob}x`,
      `Bearer ${bob}.`,
      `Bearer ${bob}=`,
      "Bearer",
      "Bearer ",
      `Bearer=${bob}`,
      `${bob}`,
    ];
    for (const value of cases) {
      const d = await decide(value);
      expect(d, value.slice(0, 24)).toMatchObject({ allow: false, status: 401, reasons: ["invalid_token"] });
    }
  });
});

describe("session JWT headers and claims", () => {
  it("alg none, another HMAC, crit, b64=false and a wrong key are invalid", async () => {
    const none = `${base64url.encode('{"alg":"none"}')}.${base64url.encode(claims())}.`;
    const hs384 = await new SignJWT({}).setProtectedHeader({ alg: "HS384" }).setSubject("bob").setIssuedAt(NOW).setExpirationTime(NOW + 600).sign(new TextEncoder().encode(JWT_SECRET));
    for (const [name, jwt] of [
      ["alg none", none],
      ["HS384", hs384],
      ["crit", signed('{"alg":"HS256","crit":["exp2"],"exp2":1}', claims())],
      ["b64 false", signed('{"alg":"HS256","crit":["b64"],"b64":false}', claims())],
      ["other key", signed('{"alg":"HS256"}', claims(), "another-secret-0123456789-0123456789")],
      ["duplicate alg, none last", signed('{"alg":"HS256","alg":"none"}', claims())],
    ] as const) {
      expect((await decide(`Bearer ${jwt}`)).reasons, name).toEqual(["invalid_token"]);
    }
  });

  it("kid, jku, jwk and x5u in the header choose no key: the configured secret still decides", async () => {
    const header = '{"alg":"HS256","kid":"../../../dev/null","jku":"http://evil.example/jwks","jwk":{"kty":"oct","k":"AAAA"},"x5u":"http://evil.example/c"}';
    expect((await decide(`Bearer ${signed(header, claims())}`)).allow).toBe(true);
    // Signed with the key the header offers: refused.
    expect((await decide(`Bearer ${signed(header, claims(), "\u0000\u0000\u0000")}`)).reasons).toEqual(["invalid_token"]);
  });

  it("claims of the wrong type are invalid, not coerced", async () => {
    for (const payload of [
      `{"sub":"bob","iat":${NOW - 10},"exp":"${NOW + 600}"}`,
      `{"sub":"bob","iat":"${NOW - 10}","exp":${NOW + 600}}`,
      `{"sub":5,"iat":${NOW - 10},"exp":${NOW + 600}}`,
      `{"sub":["bob"],"iat":${NOW - 10},"exp":${NOW + 600}}`,
      `{"sub":"bob","iat":${NOW - 10},"exp":${NOW + 600},"nbf":"0"}`,
      `{"sub":"bob","iat":${NOW - 10}}`,
      `{"sub":"bob","exp":1e308}`,
    ]) {
      expect((await decide(`Bearer ${signed('{"alg":"HS256"}', payload)}`)).reasons, payload).toEqual(["invalid_token"]);
    }
  });

  it("a sub with characters an identity header could be split or folded on is invalid", async () => {
    for (const sub of ["bob,alice", "bob;x", 'bob"', "bob alice", "bob\tx", "bob/x", "bob\\x", "bob\u00e9", ""]) {
      const payload = JSON.stringify({ sub, iat: NOW - 10, exp: NOW + 600 });
      expect((await decide(`Bearer ${signed('{"alg":"HS256"}', payload)}`)).reasons, JSON.stringify(sub)).toEqual(["invalid_token"]);
    }
  });

  it("a nested JWT is judged by its outer signature and claims only", async () => {
    const inner = signed('{"alg":"HS256"}', '{"sub":"alice","exp":9999999999}');
    const outer = signed('{"alg":"HS256","cty":"JWT"}', claims(`,"token":"${inner}"`));
    const d = await decide(`Bearer ${outer}`);
    expect(d.subject?.user_id).toBe("bob");
  });
});
