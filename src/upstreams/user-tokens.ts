import { z } from "zod";

// Each user's tokens at each `oauth` upstream (issue 12 §3): what the gateway attaches when it
// forwards, what a refresh replaces and a disconnect deletes. Backends: memory (embedded default,
// tests) and MongoDB (production, the tokens sealed at rest), behind this one interface.

/** One user's tokens at one upstream, kept per (user id, upstream name). */
export interface UpstreamTokens {
  readonly accessToken: string;
  readonly refreshToken?: string;
  /** Epoch milliseconds at which the access token expires; absent when the server did not say. */
  readonly expiresAt?: number;
  /** The scopes granted (as the token response said, or as asked). */
  readonly scopes: readonly string[];
  /** The registration (DCR client id) they were issued to: a refresh under another is not tried. */
  readonly clientId: string;
  /**
   * The authorization server that issued them and its token endpoint, as discovered then: a
   * refresh or a revocation goes only there (never to whatever discovery names now). Absent on
   * tokens stored before they were recorded: those are dropped and the user reconnects.
   */
  readonly issuer?: string;
  readonly tokenEndpoint?: string;
  /** Epoch milliseconds at which the user connected (kept across refreshes; the tokens page shows it). Absent on connections stored before it was recorded. */
  readonly connectedAt?: number;
}

/** One of a user's connections: the upstream's name (TOLLGATE_UPSTREAMS) and the tokens there. */
export interface UpstreamConnection {
  readonly upstream: string;
  readonly tokens: UpstreamTokens;
}

export interface UpstreamTokenStore {
  /** The user's tokens at the upstream, a copy; null when not connected. */
  get(userId: string, upstream: string): Promise<UpstreamTokens | null>;
  /** Validates (UpstreamTokensInvalidError), stores a copy, replacing what the user had there. */
  put(userId: string, upstream: string, tokens: UpstreamTokens): Promise<void>;
  /** Whether there was something to delete. */
  delete(userId: string, upstream: string): Promise<boolean>;
  /** Every upstream the user is connected to, ordered by upstream name. */
  listByUser(userId: string): Promise<UpstreamConnection[]>;
}

export class UpstreamTokensInvalidError extends Error {
  override readonly name = "UpstreamTokensInvalidError";
  constructor(readonly problems: readonly string[]) {
    super(`invalid upstream tokens: ${problems.join("; ")}`);
  }
}

const userIdSchema = z.string().min(1, "must be a non-empty string").max(256, "must be at most 256 characters");
const upstreamSchema = z.string().regex(/^[a-z0-9-]{1,64}$/, "must be an upstream name (1-64 of a-z 0-9 -)");

const tokensSchema = z.strictObject({
  accessToken: z.string().min(1, "must be a non-empty string"),
  refreshToken: z.string().min(1, "must be a non-empty string when present").optional(),
  expiresAt: z.number().int().nonnegative().optional(),
  scopes: z.array(z.string()),
  clientId: z.string().min(1, "must be a non-empty string"),
  connectedAt: z.number().int().nonnegative().optional(),
  issuer: z.url("must be a URL").optional(),
  tokenEndpoint: z.url("must be a URL").optional(),
}).refine((t) => (t.issuer === undefined) === (t.tokenEndpoint === undefined), { message: "issuer and tokenEndpoint come together", path: ["issuer"] });

// Values are never quoted in a problem: a token must not reach a log.
const problemsOf = (error: z.ZodError): string[] => error.issues.map((i) => `${i.path.join(".") || "tokens"}: ${i.message}`);

/** The one validation every backend runs on put: the key and the tokens, every problem at once. */
export function validateUpstreamTokens(userId: string, upstream: string, tokens: UpstreamTokens): void {
  const result = z.strictObject({ userId: userIdSchema, upstream: upstreamSchema, tokens: tokensSchema }).safeParse({ userId, upstream, tokens });
  if (!result.success) throw new UpstreamTokensInvalidError(problemsOf(result.error));
}

/** The key of a get, delete or list, checked the same way. */
export function validateUpstreamTokenKey(key: { userId: string; upstream?: string }): void {
  const result = z.strictObject({ userId: userIdSchema, upstream: upstreamSchema.optional() }).safeParse(key);
  if (!result.success) throw new UpstreamTokensInvalidError(problemsOf(result.error));
}

/** A deep copy without absent optional fields, so every backend gives back the same shape. */
export function copyUpstreamTokens(t: UpstreamTokens): UpstreamTokens {
  return {
    accessToken: t.accessToken,
    ...(t.refreshToken !== undefined ? { refreshToken: t.refreshToken } : {}),
    ...(t.expiresAt !== undefined ? { expiresAt: t.expiresAt } : {}),
    scopes: [...t.scopes],
    clientId: t.clientId,
    ...(t.issuer !== undefined ? { issuer: t.issuer } : {}),
    ...(t.tokenEndpoint !== undefined ? { tokenEndpoint: t.tokenEndpoint } : {}),
    ...(t.connectedAt !== undefined ? { connectedAt: t.connectedAt } : {}),
  };
}

/** One string per (user, upstream), injective: map keys, document ids and the sealed tokens' associated data. */
export const upstreamTokensId = (userId: string, upstream: string): string => JSON.stringify([userId, upstream]);
