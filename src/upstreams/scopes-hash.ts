import { createHash } from "node:crypto";

/**
 * The canonical hash of a set of scopes, part of every DcrKey: the same for any order and any
 * repetition, and different for different sets. The sorted, de-duplicated list is hashed in its
 * JSON form, where every scope is a quoted string, so ["a b","c"] and ["a","b c"] (which a join
 * on " " would confuse) hash differently. Every backend keys by this one function.
 */
export function scopesHash(scopes: readonly string[]): string {
  for (const scope of scopes) if (typeof scope !== "string") throw new TypeError("scopes must be strings");
  const canonical = [...new Set(scopes)].sort();
  return createHash("sha256").update(JSON.stringify(canonical)).digest("base64url");
}
