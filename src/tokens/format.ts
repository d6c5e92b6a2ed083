// Bearer token format: <prefix><43-char base62 secret><6-char base62 CRC-32 of prefix+secret>.
// The checksum lets parseToken() reject typos and junk without any I/O; it is not a MAC.
// Only hashToken(value) is ever stored.
import { hash, randomBytes } from "node:crypto";
import { crc32 } from "./crc32.js";

export type TokenKind = "global" | "project" | "mcp";
/** Single-use tokens for the MCP token exchange; never accepted as a bearer credential. */
export type TempTokenKind = "temp";
/** Issued by the OAuth authorization server (src/oauth/): an access token resolves to its MCP token record; a refresh token is only ever redeemed at /oauth/token. */
export type OAuthTokenKind = "oauth_access" | "oauth_refresh";
export type AnyTokenKind = TokenKind | TempTokenKind | OAuthTokenKind;

export const TOKEN_PREFIXES: Readonly<Record<AnyTokenKind, string>> = Object.freeze({
  global: "tg_glb_",
  project: "tg_prj_",
  mcp: "tg_mcp_",
  temp: "tg_tmp_",
  oauth_access: "tg_oat_",
  oauth_refresh: "tg_ort_",
});

export const BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SECRET_BYTES = 32;
/** 62^43 > 2^256 > 62^42: the shortest fixed width that holds 32 random bytes. */
export const SECRET_LENGTH = 43;
/** 62^6 > 2^32 > 62^5. */
export const CHECKSUM_LENGTH = 6;
const PREFIX_LENGTH = 7;
/** Every token, whatever its kind, is exactly this long. */
export const TOKEN_LENGTH = PREFIX_LENGTH + SECRET_LENGTH + CHECKSUM_LENGTH;

const KIND_BY_PREFIX = new Map<string, AnyTokenKind>(
  (Object.entries(TOKEN_PREFIXES) as Array<[AnyTokenKind, string]>).map(([kind, prefix]) => [prefix, kind]),
);
const BASE62_RE = /^[0-9A-Za-z]+$/;
const MAX_SECRET = 1n << 256n;

function encodeBase62(n: bigint, width: number): string {
  let out = "";
  while (n > 0n) {
    out = BASE62_ALPHABET[Number(n % 62n)]! + out;
    n /= 62n;
  }
  if (out.length > width) throw new RangeError(`value does not fit in ${width} base62 digits`);
  return out.padStart(width, "0");
}

/**
 * MAX_SECRET in base62, SECRET_LENGTH digits: the alphabet is in ASCII order, so comparing two
 * such strings compares their numbers, without decoding on every request.
 */
const MAX_SECRET_BASE62 = encodeBase62(MAX_SECRET, SECRET_LENGTH);

/** The CRC in CHECKSUM_LENGTH base62 digits, in plain number arithmetic (it runs on every request; a CRC-32 fits a double exactly). */
function checksum(prefixAndSecret: string): string {
  let n = crc32(prefixAndSecret);
  let out = "";
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62_ALPHABET[n % 62]! + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/** Lowercase hex SHA-256 of the token value (64 characters). */
export function hashToken(value: string): string {
  // One-shot (Node >= 20.12): no Hash object per request; strings are hashed as UTF-8.
  return hash("sha256", value, "hex");
}

export interface GeneratedToken {
  /** Shown to the user once; never stored. */
  value: string;
  /** hashToken(value): what the stores keep. */
  hash: string;
}

export function generateToken(kind: AnyTokenKind): GeneratedToken {
  const prefix = TOKEN_PREFIXES[kind];
  if (prefix === undefined) throw new TypeError(`unknown token kind: ${String(kind)}`);
  const secret = encodeBase62(BigInt("0x" + randomBytes(SECRET_BYTES).toString("hex")), SECRET_LENGTH);
  const value = prefix + secret + checksum(prefix + secret);
  return { value, hash: hashToken(value) };
}

/**
 * Checks shape and checksum only (no I/O): prefix, total length, base62 alphabet, a secret that
 * could have come from 32 bytes, and the CRC. Anything malformed, of any type, gives null.
 */
export function parseToken(value: unknown): { kind: AnyTokenKind } | null {
  if (typeof value !== "string" || value.length !== TOKEN_LENGTH) return null;
  const kind = KIND_BY_PREFIX.get(value.slice(0, PREFIX_LENGTH));
  if (kind === undefined) return null;
  const body = value.slice(PREFIX_LENGTH);
  if (!BASE62_RE.test(body)) return null;
  const secret = body.slice(0, SECRET_LENGTH);
  if (secret >= MAX_SECRET_BASE62) return null;
  if (body.slice(SECRET_LENGTH) !== checksum(value.slice(0, PREFIX_LENGTH) + secret)) return null;
  return { kind };
}

/** Uniformly random base62 string (rejection sampling, no modulo bias). */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 248) out += BASE62_ALPHABET[b % 62]!; // 248 = 4 * 62
      if (out.length === length) break;
    }
  }
  return out;
}

/** A fresh TokenRecord id: "tok_" + 20 random base62 characters. */
export function generateTokenId(): string {
  return "tok_" + randomBase62(20);
}
