// Identifiers every boundary checks alike: the admin API and the CLI (zod), the stores' shared
// validator and session JWTs' `sub`. docs/api.md ("Identifiers") is their one description.

/** Project and token ids: 1-128 of [A-Za-z0-9._-], starting with a letter or digit. */
export const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const ID_RULE = "must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit";

const USER_ID_MAX = 255;
/**
 * User ids are what identity providers put in `sub` (auth0|abc123, google-oauth2|1234, e-mail
 * addresses): 1-255 visible ASCII characters (0x21-0x7E) except `/ \ , ; "`. Nothing in it needs
 * escaping in a header value, a log line or a Redis key, and none of it separates list items.
 */
export const USER_ID_RE = /^[\x21\x23-\x2b\x2d\x2e\x30-\x3a\x3c-\x5b\x5d-\x7e]{1,255}$/;
export const USER_ID_RULE = `must be 1-${USER_ID_MAX} visible ASCII characters other than space / \\ , ; "`;

export function isValidUserId(v: unknown): v is string {
  return typeof v === "string" && USER_ID_RE.test(v);
}

/** No unpaired UTF-16 surrogate (JSON can carry one): the string survives a round trip through UTF-8. */
export function isWellFormed(value: string): boolean {
  return !/\p{Surrogate}/u.test(value);
}
