import { z } from "zod";
import { DcrCredentialsInvalidError, type DcrCredentials, type DcrKey } from "./dcr-credentials.js";

// The one validation of the DCR credential store's boundary, called by every backend on put (and
// on the key of a get), so backends cannot drift; and the one copy they all make.

const required = z.string().trim().min(1, "must be a non-empty string");
const optional = z.string().min(1, "must be a non-empty string when present").optional();

const keySchema = z.strictObject({ issuer: required, redirectUri: required, scopesHash: required });

const credentialsSchema = z.strictObject({
  key: keySchema,
  providerName: z.string(),
  clientId: required,
  clientSecret: optional,
  tokenEndpointAuthMethod: required,
  registrationAccessToken: optional,
  registrationClientUri: optional,
  authorizationEndpoint: required,
  tokenEndpoint: required,
  createdAt: z.number().int().nonnegative(),
  clientSecretExpiresAt: z.number().int().nonnegative().optional(),
});

function problemsOf(error: z.ZodError): string[] {
  // Values are never quoted: a problem may be logged, and a value may be a secret.
  return error.issues.map((issue) => `${issue.path.join(".") || "credentials"}: ${issue.message}`);
}

export function validateDcrKey(key: DcrKey): void {
  const result = keySchema.safeParse(key);
  if (!result.success) throw new DcrCredentialsInvalidError(problemsOf(result.error).map((p) => `key.${p}`));
}

export function validateDcrCredentials(credentials: DcrCredentials): void {
  const result = credentialsSchema.safeParse(credentials);
  if (!result.success) throw new DcrCredentialsInvalidError(problemsOf(result.error));
}

/** A deep copy without absent optional fields, so what one backend gives back another gives too. */
export function copyDcrCredentials(c: DcrCredentials): DcrCredentials {
  const copy: { -readonly [K in keyof DcrCredentials]: DcrCredentials[K] } = {
    key: copyDcrKey(c.key),
    providerName: c.providerName,
    clientId: c.clientId,
    tokenEndpointAuthMethod: c.tokenEndpointAuthMethod,
    authorizationEndpoint: c.authorizationEndpoint,
    tokenEndpoint: c.tokenEndpoint,
    createdAt: c.createdAt,
  };
  if (c.clientSecret !== undefined) copy.clientSecret = c.clientSecret;
  if (c.registrationAccessToken !== undefined) copy.registrationAccessToken = c.registrationAccessToken;
  if (c.registrationClientUri !== undefined) copy.registrationClientUri = c.registrationClientUri;
  if (c.clientSecretExpiresAt !== undefined) copy.clientSecretExpiresAt = c.clientSecretExpiresAt;
  return copy;
}

export const copyDcrKey = (key: DcrKey): DcrKey => ({ issuer: key.issuer, redirectUri: key.redirectUri, scopesHash: key.scopesHash });

/** One string per key (an injective encoding), for maps and as the sealed secrets' associated data. */
export function dcrKeyId(key: DcrKey): string {
  return JSON.stringify([key.issuer, key.redirectUri, key.scopesHash]);
}

/** Both backends keep a registration until this long before its secret expires. */
export const DCR_EXPIRY_MARGIN_MS = 60_000;

/**
 * How long a registration may be kept from `nowMs`: null for ever (clientSecretExpiresAt 0 or
 * absent, RFC 7591's "never"), else clientSecretExpiresAt − now − 60 s, which may be ≤ 0 (gone).
 */
export function dcrTtlMs(credentials: DcrCredentials, nowMs: number): number | null {
  const expiresAt = credentials.clientSecretExpiresAt;
  if (expiresAt === undefined || expiresAt === 0) return null;
  return expiresAt * 1000 - nowMs - DCR_EXPIRY_MARGIN_MS;
}
