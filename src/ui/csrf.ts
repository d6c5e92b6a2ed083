import { createHmac, timingSafeEqual } from "node:crypto";
import type { BrowserUser } from "./browser-sessions.js";

/** The form field every page's POST form carries. */
export const CSRF_FIELD = "csrf_token";

/**
 * The session's CSRF token (synchronizer token): a MAC of a fixed label under the session's
 * secret-derived id. Only the session's own pages know it; it needs no storage, and it changes
 * with the session, so signing out or in again invalidates every form rendered before.
 */
export function csrfToken(user: BrowserUser): string {
  return createHmac("sha256", user.sessionId).update(`tollgate csrf\0${user.userId}`).digest("base64url");
}

/** The token came from a page of this session (constant-time comparison). */
export function checkCsrf(user: BrowserUser, token: unknown): boolean {
  if (typeof token !== "string") return false;
  const expected = Buffer.from(csrfToken(user));
  const given = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
