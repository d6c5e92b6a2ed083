import { SignJWT } from "jose";
import type { Config } from "../config/config.js";
import type { Tollgate } from "./tollgate.js";

export interface DemoCredentials {
  sessions: Record<string, string>;
  tokens: Record<string, string>;
}

const HOUR = 3600;

/** The demo world's users (the development sign-in page lists them). */
export const DEMO_USERS = [
  { id: "alice", system_role: "admin", about: "admin; Owner of both demo projects" },
  { id: "bob", system_role: "user", about: "Developer on demo-private" },
  { id: "carol", system_role: "viewer", about: "viewer; Developer on demo-private" },
] as const;

/**
 * Seeds the in-memory default with a small world a newcomer can curl: three users, a public
 * and a private project, collaborators, one token of each kind, and session JWTs signed with
 * the development secret.
 */
export async function seedDemo(tollgate: Tollgate, config: Config): Promise<DemoCredentials> {
  const { directoryStore } = tollgate.facts;
  for (const { id, system_role } of DEMO_USERS) await directoryStore.putUser({ id, system_role });
  await directoryStore.putProject({ id: "demo-public", name: "Demo (public)", public: true });
  await directoryStore.putProject({ id: "demo-private", name: "Demo (private)", public: false });
  await directoryStore.setCollaborator("demo-public", "alice", "Owner");
  await directoryStore.setCollaborator("demo-private", "alice", "Owner");
  await directoryStore.setCollaborator("demo-private", "bob", "Developer");
  await directoryStore.setCollaborator("demo-private", "carol", "Developer");

  const issue = async (request: Parameters<Tollgate["issuer"]["issue"]>[0]): Promise<string> => (await tollgate.issuer.issue(request)).token;
  const tokens = {
    "bob global (read, write)": await issue({ type: "global", name: "demo global", user_id: "bob", scopes: ["read", "write"] }),
    "demo-private project (read)": await issue({ type: "project", name: "demo project", project_id: "demo-private", scopes: ["read"] }),
    "bob mcp (demo-private, trigger)": await issue({
      type: "mcp",
      name: "demo agent",
      user_id: "bob",
      grants: [{ project_id: "demo-private", allow_trigger: true }],
    }),
  };

  const sessions: Record<string, string> = {};
  if (config.jwt.key.kind === "secret") {
    const key = new TextEncoder().encode(config.jwt.key.secret);
    for (const { id: user } of DEMO_USERS) {
      let jwt = new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(user).setIssuedAt().setExpirationTime(`${12 * HOUR}s`);
      if (config.jwt.issuer) jwt = jwt.setIssuer(config.jwt.issuer);
      if (config.jwt.audience) jwt = jwt.setAudience(config.jwt.audience);
      sessions[user] = await jwt.sign(key);
    }
  }
  return { sessions, tokens };
}
