import { SignJWT, type JWTPayload } from "jose";
import { pino } from "pino";
import { loadConfig } from "../../src/config/config.js";
import type { Backends } from "../../src/server/backends.js";
import { buildTollgate, type BuildOptions, type Tollgate } from "../../src/server/tollgate.js";
import { untilReady } from "../support/ready.js";

/** A frozen clock for policy time, JWT checks and token expiry (2027-01-15). */
export const NOW = 1_800_000_000;
export const JWT_SECRET = "test-secret-0123456789-0123456789-abcdef";
export const ADMIN_TOKEN = "test-admin-token-0123456789abcdef";

export interface World {
  tollgate: Tollgate;
  tokens: { bobGlobal: string; bobGlobalRead: string; privateProject: string; bobMcp: string };
  tokenIds: Record<keyof World["tokens"], string>;
  session(sub: string, claims?: JWTPayload, options?: { secret?: string; expiresIn?: number }): Promise<string>;
}

/**
 * An in-memory Tollgate with a small world: alice (admin, Owner of both projects), bob
 * (Developer on private), carol (viewer, Developer on private), dave (no collaborations).
 */
export async function buildWorld(env: Record<string, string> = {}, backends?: Backends, parts: TollgateParts = {}): Promise<World> {
  const tollgate = buildTollgateAt(NOW, env, backends, parts);
  await untilReady(tollgate);
  const dir = tollgate.facts.directoryStore;
  await dir.putUser({ id: "alice", system_role: "admin" });
  await dir.putUser({ id: "bob", system_role: "user" });
  await dir.putUser({ id: "carol", system_role: "viewer" });
  await dir.putProject({ id: "pub", name: "Public", public: true });
  await dir.putProject({ id: "priv", name: "Private", public: false });
  await dir.setCollaborator("pub", "alice", "Owner");
  await dir.setCollaborator("priv", "alice", "Owner");
  await dir.setCollaborator("priv", "bob", "Developer");
  await dir.setCollaborator("priv", "carol", "Developer");
  const issued = {
    bobGlobal: await tollgate.issuer.issue({ type: "global", user_id: "bob", scopes: ["read", "write"] }),
    bobGlobalRead: await tollgate.issuer.issue({ type: "global", user_id: "bob", scopes: ["read"] }),
    privateProject: await tollgate.issuer.issue({ type: "project", project_id: "priv", scopes: ["read"] }),
    bobMcp: await tollgate.issuer.issue({ type: "mcp", user_id: "bob", grants: [{ project_id: "priv", allow_trigger: true }] }),
  };
  const tokens = Object.fromEntries(Object.entries(issued).map(([k, v]) => [k, v.token])) as World["tokens"];
  const tokenIds = Object.fromEntries(Object.entries(issued).map(([k, v]) => [k, v.record.id])) as World["tokenIds"];
  return {
    tollgate,
    tokens,
    tokenIds,
    async session(sub, claims = {}, options = {}) {
      return new SignJWT(claims)
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(sub)
        .setIssuedAt(NOW - 60)
        .setExpirationTime(NOW + (options.expiresIn ?? 3600))
        .sign(new TextEncoder().encode(options.secret ?? JWT_SECRET));
    },
  };
}

/** Parts of Tollgate a test puts in place of the defaults. */
export type TollgateParts = Pick<BuildOptions, "upstreamCredentials"> & Partial<Pick<BuildOptions, "logger">>;

/** A Tollgate whose clock reads `now`, on the given backends (fresh in-memory ones if none). */
export function buildTollgateAt(now: number, env: Record<string, string> = {}, backends?: Backends, parts: TollgateParts = {}): Tollgate {
  // Test files sign in far more often than a person does (the sign-in limit has its own test, test/ui/sign-in-audit.test.ts).
  const config = loadConfig({ TOLLGATE_JWT_SECRET: JWT_SECRET, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_DEMO: "false", TOLLGATE_UI_SIGN_INS_PER_MINUTE: "100000", ...env });
  return buildTollgate(config, {
    watchPolicy: false,
    defaultMetrics: false,
    clock: () => now,
    ...(backends ? { backends } : {}),
    ...parts,
    logger: parts.logger ?? pino({ level: "silent" }),
  });
}

export const bearer = (credential: string): string => `Bearer ${credential}`;
