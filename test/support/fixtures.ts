import { expect } from "vitest";
import { generateToken, generateTokenId } from "../../src/tokens/format.js";
import { StoreValidationError, type Grant, type TokenRecord } from "../../src/stores/types.js";

export interface Fixture<T> {
  store: T;
  cleanup?: () => Promise<void>;
}
export type FixtureFactory<T> = () => Promise<Fixture<T>>;

/** Dates with milliseconds, which every backend must keep. */
export const T0 = new Date("2030-01-02T03:04:05.678Z");
export const at = (offsetMs: number): Date => new Date(T0.getTime() + offsetMs);

export function globalToken(overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id: generateTokenId(),
    kind: "global",
    name: "ci token",
    hash: generateToken("global").hash,
    user_id: "alice",
    project_id: null,
    scopes: ["read", "write"],
    grants: [],
    created_at: T0,
    expires_at: at(86_400_000),
    revoked_at: null,
    last_used_at: null,
    ...overrides,
  };
}

export function projectToken(overrides: Partial<TokenRecord> = {}): TokenRecord {
  return globalToken({ kind: "project", hash: generateToken("project").hash, user_id: null, project_id: "proj-1", scopes: ["read"], ...overrides });
}

export function mcpToken(overrides: Partial<TokenRecord> = {}): TokenRecord {
  const grants: Grant[] = [
    { project_id: "proj-1", expires_at: at(3_600_000), allow_trigger: true },
    { project_id: "proj.2", expires_at: null, allow_trigger: false },
  ];
  return globalToken({ kind: "mcp", hash: generateToken("mcp").hash, scopes: [], grants, expires_at: null, ...overrides });
}

/** Awaits a rejection with StoreValidationError naming `field`. */
export async function expectValidationError(p: Promise<unknown>, field: string): Promise<void> {
  const err = await p.then(
    () => expect.unreachable(`expected StoreValidationError(${field})`),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreValidationError);
  expect((err as StoreValidationError).field).toBe(field);
  expect((err as StoreValidationError).code).toBe("validation_failed");
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
